import { LogRateLimit, uuidv7Bytes, type Logger } from "@fleetplane/platform";
import type { AccessEventRecord, AccessRepository } from "./access-repository.js";

/** One refused call: who (if known), what, why, from where. */
export type Refusal = Omit<AccessEventRecord, "id" | "atMs">;

/**
 * Records refused mutations where admins can list them
 * (AccessService.ListAccessEvents), and logs refusals at most `logBurst`
 * lines per `logWindowMs` so a caller hammering with a bad key cannot flood
 * the log (the platform's LogRateLimit); the next refusal logged says how
 * many were left out before it.
 */
export class AccessEvents {
  private readonly logLimit: LogRateLimit;

  constructor(
    private readonly o: { repository: AccessRepository; logger: Logger; logBurst?: number; logWindowMs?: number; now?: () => number },
  ) {
    this.logLimit = new LogRateLimit({ intervalMs: o.logWindowMs ?? 10_000, burst: o.logBurst ?? 20, now: o.now });
  }

  /** Logs (rate-limited) every refusal; stores those of mutations. Never throws: a refusal stands whatever the store says. */
  async refused(refusal: Refusal, store: boolean): Promise<void> {
    this.log(refusal);
    if (!store) return;
    const atMs = (this.o.now ?? Date.now)();
    try {
      await this.o.repository.appendAccessEvent({ id: Buffer.from(uuidv7Bytes(atMs)).toString("hex"), atMs, ...refusal });
    } catch (err) {
      // A dead store fails every refused mutation's write: rate-limited too.
      const extra = this.logLimit.take("not-stored");
      if (extra) this.o.logger.warn({ err, method: refusal.method, ...extra }, "could not store the access event of a refused call");
    }
  }

  private log(refusal: Refusal): void {
    const extra = this.logLimit.take("refused");
    if (extra) this.o.logger.warn({ ...refusal, ...extra }, "admin API call refused");
  }
}
