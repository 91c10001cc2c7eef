import { useEffect, useState } from "preact/hooks";
import type { Rollout } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { rolloutApi } from "./api.js";
import type { LiveState } from "./live-updates.js";

/**
 * A namespace's rollouts, kept current by one WatchRollouts stream (the
 * current state of each first, then every change), reopened with a growing
 * pause (1 s to 15 s) when it breaks. Newest first (ids are UUIDv7s).
 */
export function useWatchedRollouts(namespace: string): { rollouts: Rollout[]; state: LiveState } {
  const [byId, setById] = useState<ReadonlyMap<string, Rollout>>(new Map());
  const [state, setState] = useState<LiveState>("connecting");
  useEffect(() => {
    setById(new Map());
    const controller = new AbortController();
    void (async () => {
      let pauseMs = 1_000;
      while (!controller.signal.aborted) {
        try {
          const stream = rolloutApi.watchRollouts({ namespace }, { signal: controller.signal });
          setState("live");
          for await (const { rollout } of stream) {
            pauseMs = 1_000;
            if (rollout) setById((m) => newer(m, rollout));
          }
        } catch {
          // Shown by the state; the loop opens the stream again.
        }
        if (controller.signal.aborted) return;
        setState("reconnecting");
        await new Promise((r) => setTimeout(r, pauseMs));
        pauseMs = Math.min(pauseMs * 2, 15_000);
      }
    })();
    return () => controller.abort();
  }, [namespace]);
  const rollouts = [...byId.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  return { rollouts, state };
}

/**
 * The map with `rollout` in it, unless it holds a later decision already
 * (a reopened stream's first message can be older than what arrived). An
 * equal decision number may carry newer counts, so it replaces.
 */
function newer(m: ReadonlyMap<string, Rollout>, rollout: Rollout): ReadonlyMap<string, Rollout> {
  const held = m.get(rollout.id);
  if (held && held.sequence > rollout.sequence) return m;
  return new Map(m).set(rollout.id, rollout);
}
