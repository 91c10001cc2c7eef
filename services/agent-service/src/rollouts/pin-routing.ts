import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { LogRateLimit, type Logger, type PushBus, type PushNotice, type PushSubscription } from "@fleetplane/platform";
import type { PinOutcome } from "../agents/admin-commands.js";
import type { RolloutPin } from "../agents/config-assignment.js";
import type { VersionFileCache } from "./version-files.js";

/**
 * The push bus channel on which a rollout's leader asks the replica serving
 * an agent to pin it. Shares the bus's gateway-id space: no gateway may take
 * this id.
 */
export const ROLLOUT_PINS_CHANNEL = "agent-service-rollout-pins";

/** A pin as sent between replicas: the version's files are read by the receiver. */
interface PinRequest {
  namespace: string;
  group: string;
  configuration: string;
  version: number;
  rollout: string;
  requestedBy: string;
}

export interface PinRoutingOptions {
  bus: PushBus;
  /** Whether this replica serves the agent (AgentStore.serves). */
  serves: (uid: string) => boolean;
  /** The agent as stored (the repository: this replica caches only agents it serves). */
  stored: (uid: string) => Promise<Agent | undefined>;
  /** Pins on this replica (AdminCommands.pinRollout). */
  pin: (uid: string, namespace: string, pin: RolloutPin, requestedBy: string) => Promise<PinOutcome>;
  versions: VersionFileCache;
  logger: Logger;
}

/** What routing a pin did: the pin's outcome here, or that it went to the replica serving the agent. */
export type RoutedPin = PinOutcome | "sent to its replica" | "not sent";

/**
 * One writer per agent for rollouts: the replica serving it. Its cached copy
 * takes the agent's reports without a read; a pin written by another replica
 * at the same moment would race that copy's next write, and the store's
 * revision check cannot be trusted to refuse one of two writes in flight
 * (FerretDB 1.x was seen to let both succeed). So a pin for an agent served
 * here is written here; one for an agent the store shows connected elsewhere
 * is sent to every replica and written by the one that serves it; one for an
 * agent nobody serves (disconnected) is written here, and the replica it
 * next reports to reads it from the store. A request nobody takes (lost, or
 * its replica restarted) leaves the agent without the pin: the driver reads
 * the stage's agents from the store and asks again.
 */
export class PinRouting {
  /** A store that is away fails every pin of a stage: a line per kind per 10 s, with the count left out. */
  private readonly lines = new LogRateLimit({ intervalMs: 10_000 });

  constructor(private readonly deps: PinRoutingOptions) {}

  async pin(uid: string, namespace: string, pin: RolloutPin, requestedBy: string): Promise<RoutedPin> {
    if (this.deps.serves(uid)) return this.deps.pin(uid, namespace, pin, requestedBy);
    const agent = await this.deps.stored(uid);
    if (!agent) return "gone";
    if (!agent.status?.connected) return this.deps.pin(uid, namespace, pin, requestedBy);
    const request: PinRequest = { namespace, group: pin.group, configuration: pin.configuration, version: pin.version, rollout: pin.rollout, requestedBy };
    const sent = await this.deps.bus.publish(ROLLOUT_PINS_CHANNEL, { instanceUid: uid, connectionId: agent.status.connectionId, request: JSON.stringify(request) });
    return sent ? "sent to its replica" : "not sent";
  }

  /** Takes the pin requests for agents this replica serves. */
  listen(): Promise<PushSubscription> {
    return this.deps.bus.subscribe(ROLLOUT_PINS_CHANNEL, (notice) => void this.received(notice));
  }

  private async received(notice: PushNotice): Promise<void> {
    if (!notice.request || !this.deps.serves(notice.instanceUid)) return;
    const r = parseRequest(notice.request);
    if (!r) {
      const extra = this.lines.take("malformed");
      if (extra) this.deps.logger.warn({ agent: notice.instanceUid, ...extra }, "ignoring a malformed rollout pin request");
      return;
    }
    try {
      const files = await this.deps.versions.get(r.namespace, r.configuration, r.version);
      const pin: RolloutPin = { group: r.group, configuration: r.configuration, version: r.version, rollout: r.rollout, ...files };
      await this.deps.pin(notice.instanceUid, r.namespace, pin, r.requestedBy);
    } catch (err) {
      // The leader sees the pin missing from the store and asks again.
      const extra = this.lines.take("pin");
      if (extra) this.deps.logger.warn({ agent: notice.instanceUid, rollout: r.rollout, err: String(err), ...extra }, "could not pin a rollout's version on an agent served here; its leader will ask again");
    }
  }
}

function parseRequest(text: string): PinRequest | undefined {
  try {
    const v = JSON.parse(text) as Partial<PinRequest>;
    const strings = [v.namespace, v.group, v.configuration, v.rollout, v.requestedBy].every((s) => typeof s === "string");
    return strings && typeof v.version === "number" && Number.isInteger(v.version) && v.version > 0 ? (v as PinRequest) : undefined;
  } catch {
    return undefined;
  }
}
