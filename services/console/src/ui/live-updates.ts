import { Code, ConnectError } from "@connectrpc/connect";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { agentApi } from "./api.js";

export type LiveState = "connecting" | "live" | "reconnecting";

const agentListeners = new Set<(agent: Agent) => void>();
const stateListeners = new Set<(state: LiveState) => void>();
let state: LiveState = "connecting";
let started = false;

/** Calls `listener` with every changed agent the watch stream brings; returns the unsubscribe. */
export function onAgentChange(listener: (agent: Agent) => void): () => void {
  agentListeners.add(listener);
  return () => agentListeners.delete(listener);
}

export function onLiveState(listener: (state: LiveState) => void): () => void {
  stateListeners.add(listener);
  listener(state);
  return () => stateListeners.delete(listener);
}

function setState(next: LiveState): void {
  state = next;
  for (const l of stateListeners) l(next);
}

/**
 * One WatchAgents stream for the whole console, reopened with a growing
 * pause (1 s to 15 s) when it breaks: the server restarts, or it drops a
 * watcher that fell behind. Pages refresh from what the stream says
 * instead of polling. The server ends the stream with Unauthenticated when
 * the credential is revoked or expires: then `onSignedOut`, not a retry.
 */
export function startLiveUpdates(onSignedOut: () => void): void {
  if (started) return;
  started = true;
  void (async () => {
    let pauseMs = 1_000;
    for (;;) {
      try {
        const stream = agentApi.watchAgents({});
        setState("live");
        for await (const change of stream) {
          pauseMs = 1_000;
          if (change.agent) for (const l of agentListeners) l(change.agent);
        }
      } catch (err) {
        if (ConnectError.from(err).code === Code.Unauthenticated) return onSignedOut();
        // Reported through the state indicator; the loop tries again.
      }
      setState("reconnecting");
      await new Promise((r) => setTimeout(r, pauseMs));
      pauseMs = Math.min(pauseMs * 2, 15_000);
    }
  })();
}
