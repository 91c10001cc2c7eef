import type { ServiceImpl } from "@connectrpc/connect";
import type { Rollout } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { RolloutService } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_service_pb";
import { type Logger, fetchLimit, pageLimit, toPage } from "@fleetplane/platform";
import { requestNamespace } from "../fleet/resource-names.js";
import type { Rollouts } from "../rollouts/rollouts.js";
import { guarded } from "./connect-errors.js";
import { requesterOf } from "./requested-by.js";

export interface RolloutServiceOptions {
  /** How often WatchRollouts reads the store (the leading replica may be another). Default 500 ms. */
  watchIntervalMs?: number;
}

/** The Connect face of rollouts (served by agent-service). Page tokens are the last id of the previous page (newest first). */
export function createRolloutServiceImpl(rollouts: Rollouts, logger: Logger, o: RolloutServiceOptions = {}): ServiceImpl<typeof RolloutService> {
  const guard = guarded(logger);
  const watchInterval = o.watchIntervalMs ?? 500;
  return {
    startRollout: (req, ctx) =>
      guard("StartRollout", async () => {
        req.namespace = requestNamespace(req.namespace);
        return rollouts.start(req, requesterOf(ctx));
      }),
    getRollout: (req) => guard("GetRollout", async () => ({ rollout: await rollouts.get(requestNamespace(req.namespace), req.id) })),
    listRollouts: (req) =>
      guard("ListRollouts", async () => {
        const limit = pageLimit(req.pageSize);
        const found = await rollouts.list(requestNamespace(req.namespace), { limit: fetchLimit(limit), ...(req.pageToken ? { before: req.pageToken } : {}), ...(req.group ? { group: req.group } : {}) });
        const { page, nextPageToken } = toPage(found, limit, (last) => last.id);
        return { rollouts: page, nextPageToken };
      }),
    pauseRollout: (req, ctx) => guard("PauseRollout", async () => ({ rollout: await rollouts.pause(requestNamespace(req.namespace), req.id, requesterOf(ctx), req.reason) })),
    resumeRollout: (req, ctx) => guard("ResumeRollout", async () => ({ rollout: await rollouts.resume(requestNamespace(req.namespace), req.id, requesterOf(ctx), req.reason) })),
    abortRollout: (req, ctx) => guard("AbortRollout", async () => ({ rollout: await rollouts.abort(requestNamespace(req.namespace), req.id, requesterOf(ctx), req.reason) })),
    rollbackRollout: (req, ctx) => guard("RollbackRollout", async () => ({ rollout: await rollouts.rollback(requestNamespace(req.namespace), req.id, requesterOf(ctx), req.reason) })),
    preflight: (req) => guard("Preflight", async () => ({ result: await rollouts.preflight(requestNamespace(req.namespace), req.group, req.version) })),
    /**
     * Reads the store every interval, and at once after a decision taken in
     * this process, and sends each rollout whose decision number moved (all
     * of them first). Polling, because the replica that decides may be
     * another one; a decision is a few writes per stage.
     */
    async *watchRollouts(req, ctx) {
      const namespace = requestNamespace(req.namespace);
      const seen = new Map<string, bigint>();
      const read = async (): Promise<Rollout[]> => (req.id ? [await rollouts.get(namespace, req.id)] : rollouts.list(namespace, { limit: 100 }));
      const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
      while (!ctx.signal.aborted) {
        const current = await guard("WatchRollouts", read);
        for (const rollout of current) {
          if (seen.get(rollout.id) === rollout.sequence) continue;
          seen.set(rollout.id, rollout.sequence);
          yield { rollout };
        }
        await Promise.race([rollouts.nextDecision(watchInterval), aborted]);
      }
    },
  };
}
