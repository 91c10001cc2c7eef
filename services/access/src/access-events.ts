import { uuidv7Bytes, type Logger } from "@fleetplane/platform";
import type { AccessEventRecord, AccessRepository } from "./access-repository.js";

/** One refused call: who (if known), what, why, from where. */
export type Refusal = Omit<AccessEventRecord, "id" | "atMs">;

/**
 * Records refused mutations where admins can list them
 * (AccessService.ListAccessEvents), and logs refusals at most `logBurst`
 * lines per `logWindowMs` so a caller hammering with a bad key cannot flood
 * the log; the count of lines left out is logged with the next window.
 */
export class AccessEvents {
  private windowStart = 0;
  private logged = 0;
  private suppressed = 0;

  constructor(
    private readonly o: { repository: AccessRepository; logger: Logger; logBurst?: number; logWindowMs?: number; now?: () => number },
  ) {}

  /** Logs (rate-limited) every refusal; stores those of mutations. Never throws: a refusal stands whatever the store says. */
  async refused(refusal: Refusal, store: boolean): Promise<void> {
    this.log(refusal);
    if (!store) return;
    const atMs = (this.o.now ?? Date.now)();
    try {
      await this.o.repository.appendAccessEvent({ id: Buffer.from(uuidv7Bytes(atMs)).toString("hex"), atMs, ...refusal });
    } catch (err) {
      this.o.logger.warn({ err, method: refusal.method }, "could not store the access event of a refused call");
    }
  }

  private log(refusal: Refusal): void {
    const now = (this.o.now ?? Date.now)();
    if (now - this.windowStart >= (this.o.logWindowMs ?? 10_000)) {
      if (this.suppressed > 0) this.o.logger.warn({ suppressed: this.suppressed }, "more admin API calls were refused than logged");
      this.windowStart = now;
      this.logged = 0;
      this.suppressed = 0;
    }
    if (this.logged >= (this.o.logBurst ?? 20)) {
      this.suppressed++;
      return;
    }
    this.logged++;
    this.o.logger.warn(refusal, "admin API call refused");
  }
}
