import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { LogRateLimit, instanceUidToHex, type Logger, type PushBus, type PushNotice, type PushSubscription } from "@fleetplane/platform";
import type { PinOutcome } from "../agents/admin-commands.js";
import type { RolloutPin } from "../agents/config-assignment.js";
import type { VersionFileCache } from "./version-files.js";

/**
 * The push bus channel on which a rollout's leader asks the replica serving
 * an agent to pin it. Shares the bus's gateway-id space: no gateway may take
 * this id.
 */
export const ROLLOUT_PINS_CHANNEL = "agent-service-rollout-pins";

/**
 * The channel for a batch of pins in one request (PinBatchRequest): every
 * replica takes those of the batch's agents it serves. A channel of its own,
 * not a new field on ROLLOUT_PINS_CHANNEL: a replica of an older version
 * does not listen here, so during an upgrade the batch's agents it serves
 * stay unpinned until the leader repeats the pins it finds not stored, and
 * a repeat goes out per agent on ROLLOUT_PINS_CHANNEL, which every version
 * takes (see pinMany's `repeat`). Pins nothing re-checks (a rollout's
 * begin: the agents held back or left out) go as repeats from the start.
 * A newer replica takes both channels, so an older leader's per-agent
 * requests still reach it.
 */
export const ROLLOUT_PIN_BATCHES_CHANNEL = "agent-service-rollout-pin-batches";

/**
 * Agents handed to the pin path at once. A batch is read in one store read
 * (the agents not cached here), written in one saveMany (MongoDB: queued
 * together into bulkWrites; LMDB: one transaction) and sent to another replica in one
 * request, by the replica serving its agents (pinMany). 256: the
 * MongoDB adapter's largest bulkWrite (mongo-write-batches.ts). One pin at a
 * time, 16 in flight, made small batches everywhere, and 64 in flight
 * stalled FerretDB 1.x, whose SQLite serializes writes (docs/performance.md
 * §26, §30): the gain comes from fewer operations, not more concurrency.
 */
export const PIN_BATCH = 256;

/** A pin as sent between replicas: the version's files are read by the receiver. */
interface PinRequest {
  namespace: string;
  group: string;
  configuration: string;
  version: number;
  rollout: string;
  requestedBy: string;
}

/** Pins of one version for many agents, as sent between replicas: `agents` are hex uids. */
interface PinBatchRequest extends PinRequest {
  agents: string[];
}

export interface PinRoutingOptions {
  bus: PushBus;
  /** Whether this replica serves the agent (AgentStore.serves). */
  serves: (uid: string) => boolean;
  /** The named agents as stored (those found), in one read (the repository: this replica caches only agents it serves). */
  storedMany: (uids: readonly string[]) => Promise<Agent[]>;
  /** Pins one agent on this replica, asked by a request of its own (AdminCommands.pinRollout). */
  pin: (uid: string, namespace: string, pin: RolloutPin, requestedBy: string) => Promise<PinOutcome>;
  /** Pins a batch on this replica (AdminCommands.pinRollouts): each agent's outcome, or the error it met. */
  pinMany: (uids: readonly string[], namespace: string, pin: RolloutPin, requestedBy: string) => Promise<Map<string, PinOutcome | Error>>;
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

  /**
   * Pins a batch of agents, each where it is served: those served here and those nobody serves
   * (the store shows them disconnected) are pinned here in one batch
   * (pinMany), those connected elsewhere are sent in one request to every
   * replica, each of which pins in one batch those it serves; the agents
   * not served here are read in one store read. `repeat`: pins sent before
   * that were not stored — the agents connected elsewhere are then sent one
   * request each on ROLLOUT_PINS_CHANNEL, which a replica of an older
   * version takes too (see ROLLOUT_PIN_BATCHES_CHANNEL). Each agent's
   * outcome, or the error it met.
   */
  async pinMany(uids: readonly string[], namespace: string, pin: RolloutPin, requestedBy: string, o: { repeat?: boolean } = {}): Promise<Map<string, RoutedPin | Error>> {
    const out = new Map<string, RoutedPin | Error>();
    const here = uids.filter((uid) => this.deps.serves(uid));
    const elsewhere = uids.filter((uid) => !this.deps.serves(uid));
    const found = new Map((elsewhere.length > 0 ? await this.deps.storedMany(elsewhere) : []).map((a) => [instanceUidToHex(a.metadata!.instanceUid), a]));
    const remote: Agent[] = [];
    for (const uid of elsewhere) {
      const agent = found.get(uid);
      if (!agent) out.set(uid, "gone");
      else if (agent.status?.connected) remote.push(agent);
      else here.push(uid);
    }
    const request: PinRequest = { namespace, group: pin.group, configuration: pin.configuration, version: pin.version, rollout: pin.rollout, requestedBy };
    const send = async (): Promise<void> => {
      if (remote.length === 0) return;
      if (o.repeat) {
        for (const a of remote) {
          const sent = await this.deps.bus.publish(ROLLOUT_PINS_CHANNEL, { instanceUid: instanceUidToHex(a.metadata!.instanceUid), connectionId: a.status!.connectionId, request: JSON.stringify(request) });
          out.set(instanceUidToHex(a.metadata!.instanceUid), sent ? "sent to its replica" : "not sent");
        }
        return;
      }
      const batch: PinBatchRequest = { ...request, agents: remote.map((a) => instanceUidToHex(a.metadata!.instanceUid)) };
      const sent = await this.deps.bus.publish(ROLLOUT_PIN_BATCHES_CHANNEL, { instanceUid: "", connectionId: "", request: JSON.stringify(batch) });
      for (const uid of batch.agents) out.set(uid, sent ? "sent to its replica" : "not sent");
    };
    const [pinned] = await Promise.all([here.length > 0 ? this.deps.pinMany(here, namespace, pin, requestedBy) : new Map<string, PinOutcome | Error>(), send()]);
    for (const [uid, outcome] of pinned) out.set(uid, outcome);
    return out;
  }

  /** Takes the pin requests (one agent's, or a batch's) for agents this replica serves. */
  async listen(): Promise<PushSubscription> {
    const one = await this.deps.bus.subscribe(ROLLOUT_PINS_CHANNEL, (notice) => void this.received(notice));
    let batches: PushSubscription;
    try {
      batches = await this.deps.bus.subscribe(ROLLOUT_PIN_BATCHES_CHANNEL, (notice) => void this.receivedBatch(notice));
    } catch (err) {
      await one.unsubscribe();
      throw err;
    }
    return { unsubscribe: async () => void (await Promise.all([one.unsubscribe(), batches.unsubscribe()])) };
  }

  private async receivedBatch(notice: PushNotice): Promise<void> {
    const r = notice.request ? parseBatchRequest(notice.request) : undefined;
    if (!r) {
      const extra = this.lines.take("malformed");
      if (extra) this.deps.logger.warn({ ...extra }, "ignoring a malformed batch of rollout pins");
      return;
    }
    const served = r.agents.filter((uid) => this.deps.serves(uid));
    if (served.length === 0) return;
    try {
      const files = await this.deps.versions.get(r.namespace, r.configuration, r.version);
      const pin: RolloutPin = { group: r.group, configuration: r.configuration, version: r.version, rollout: r.rollout, ...files };
      const outcomes = await this.deps.pinMany(served, r.namespace, pin, r.requestedBy);
      const failed = [...outcomes.values()].filter((o) => o instanceof Error);
      if (failed.length > 0) throw failed[0];
    } catch (err) {
      // The leader sees the pins missing from the store and asks again.
      const extra = this.lines.take("pin");
      if (extra) this.deps.logger.warn({ agents: served.length, rollout: r.rollout, err: String(err), ...extra }, "could not pin a rollout's version on some agents served here; its leader will ask again");
    }
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
    return validRequest(JSON.parse(text) as Partial<PinRequest>);
  } catch {
    return undefined;
  }
}

function parseBatchRequest(text: string): PinBatchRequest | undefined {
  try {
    const v = JSON.parse(text) as Partial<PinBatchRequest>;
    // No leader sends more than PIN_BATCH: a larger batch is not ours (it would hold that many agents' locks at once).
    return validRequest(v) && Array.isArray(v.agents) && v.agents.length <= PIN_BATCH && v.agents.every((u) => typeof u === "string") ? (v as PinBatchRequest) : undefined;
  } catch {
    return undefined;
  }
}

function validRequest<R extends PinRequest>(v: Partial<R>): R | undefined {
  const strings = [v.namespace, v.group, v.configuration, v.rollout, v.requestedBy].every((s) => typeof s === "string");
  return strings && typeof v.version === "number" && Number.isInteger(v.version) && v.version > 0 ? (v as R) : undefined;
}
