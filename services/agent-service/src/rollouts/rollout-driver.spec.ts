import { clone, create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { AgentSchema, ConfigSource, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { RemoteConfigStatusSchema, RemoteConfigStatuses } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { RolloutFailureAction, RolloutSchema, RolloutStageState, RolloutState, StageFailureKind, type Rollout } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { silentLogger, type Logger } from "@fleetplane/platform";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AgentQuery } from "../agents/agent-repository.js";
import type { RolloutPin } from "../agents/config-assignment.js";
import type { AuditedChange, CommandAuditPort } from "../agents/command-audit-port.js";
import type { Configurations } from "../fleet/configurations.js";
import type { Groups } from "../fleet/groups.js";
import { scanGroupTargets, scanRevisions, type AgentLister } from "./group-agents.js";
import { RolloutDecisions } from "./rollout-decisions.js";
import { RolloutDriver, type PinAgents } from "./rollout-driver.js";
import type { RolloutLease, RolloutLeaseRepository, RolloutRepository } from "./rollout-repository.js";
import { StepDeadlineError } from "./step-deadline.js";
import { VersionFileCache } from "./version-files.js";

const LEASE = 3_000;
const TICK = 500;

/** Decisions stored under (id, sequence), as the real stores do (inserts under a unique key). */
class MemoryRollouts implements RolloutRepository {
  readonly decisions = new Map<string, Rollout[]>();
  async create(r: Rollout) {
    this.decisions.set(r.id, [clone(RolloutSchema, r)]);
    return true;
  }
  async record(r: Rollout) {
    const list = this.decisions.get(r.id)!;
    if (list.some((d) => d.sequence === r.sequence)) return false;
    list.push(clone(RolloutSchema, r));
    return true;
  }
  async get(_ns: string, id: string) {
    const list = this.decisions.get(id);
    return list && clone(RolloutSchema, list[list.length - 1]!);
  }
  async list() {
    return [];
  }
  async active() {
    return [...this.decisions.values()].map((l) => l[l.length - 1]!).filter((r) => r.state === RolloutState.RUNNING || r.state === RolloutState.PAUSED).map((r) => ({ namespace: r.namespace, id: r.id }));
  }
  async release() {}
  latest(id: string): Rollout {
    const list = this.decisions.get(id)!;
    return list[list.length - 1]!;
  }
}

class MemoryLeases implements RolloutLeaseRepository {
  readonly terms: RolloutLease[] = [];
  async latest(id: string) {
    return this.terms.filter((l) => l.rolloutId === id).sort((a, b) => b.term - a.term)[0];
  }
  async claim(lease: RolloutLease) {
    if (this.terms.some((l) => l.rolloutId === lease.rolloutId && l.term === lease.term)) return false;
    this.terms.push({ ...lease });
    return true;
  }
  async renew(lease: RolloutLease) {
    const held = this.terms.find((l) => l.rolloutId === lease.rolloutId && l.term === lease.term && l.holder === lease.holder);
    if (held) held.expiresAt = lease.expiresAt;
  }
}

const UID = "0".repeat(31) + "1";

/** An agent of group g that has not reported on the new version (it never applies it). */
function stuckAgent(): Agent {
  return create(AgentSchema, {
    metadata: { instanceUid: Buffer.from(UID, "hex") },
    spec: { assignment: { source: ConfigSource.GROUP, group: "g", configuration: "c", version: 2, rollout: "r1" } },
    status: { connected: true },
  });
}

/** Agents in a store (stuckAgent each, under `uids`, at revision 1) and its two reads of them, counted: copies of the named agents, and their revisions. */
function storedAgents(uids: readonly string[]) {
  const agents = new Map(
    uids.map((u) => {
      const a = stuckAgent();
      a.metadata!.instanceUid = Buffer.from(u, "hex");
      a.revision = 1n;
      return [u, a] as const;
    }),
  );
  const counts = { reads: [] as string[][], revisionReads: 0 };
  // Each read gets copies, as a store does: what a look keeps is what it read then.
  const list = async (q: AgentQuery) => (q.instanceUids && counts.reads.push([...q.instanceUids]), (q.instanceUids ?? []).flatMap((u) => (agents.has(u) ? [clone(AgentSchema, agents.get(u)!)] : [])));
  const listRevisions: AgentLister["listRevisions"] = async (q) => (counts.revisionReads++, (q.instanceUids ?? []).flatMap((uid) => (agents.has(uid) ? [{ uid, revision: agents.get(uid)!.revision }] : [])));
  return { agents, counts, list, listRevisions };
}

function rollout(stage: { state: RolloutStageState; startedAt?: number; bakingSince?: number; agents?: string[] }, timeoutMs = 60_000): Rollout {
  return create(RolloutSchema, {
    namespace: "default",
    id: "r1",
    group: "g",
    configuration: "c",
    fromVersion: 1,
    toVersion: 2,
    gate: { bakeTime: durationFromMs(1_000), stageTimeout: durationFromMs(timeoutMs) },
    onFailure: RolloutFailureAction.PAUSE,
    state: RolloutState.RUNNING,
    stages: [
      {
        spec: { size: { case: "agents", value: 1 } },
        state: stage.state,
        agents: stage.agents ?? [],
        ...(stage.startedAt !== undefined ? { startedAt: timestampFromMs(stage.startedAt) } : {}),
        ...(stage.bakingSince !== undefined ? { bakingSince: timestampFromMs(stage.bakingSince) } : {}),
      },
    ],
    currentStage: 0,
    sequence: 1n,
  });
}

const versionTwo = { getVersion: async () => ({ files: { "c.yaml": { body: new TextEncoder().encode("v2\n"), contentType: "text/yaml" } } }) } as unknown as Configurations;

/** A replica's driver over the shared stores; `list` answers its agent reads. */
function replica(
  name: string,
  shared: { rollouts: MemoryRollouts; leases: MemoryLeases; audit: AuditedChange[] },
  o: { list?: (q: AgentQuery) => Promise<Agent[]>; listGroupTargets?: AgentLister["listGroupTargets"]; listRevisions?: AgentLister["listRevisions"]; pin?: PinAgents; logger?: Logger } = {},
): RolloutDriver {
  const audit = { recordChange: async (c: AuditedChange) => void shared.audit.push(c) } as unknown as CommandAuditPort;
  const list = o.list ?? (async () => []);
  return new RolloutDriver({
    rollouts: shared.rollouts,
    leases: shared.leases,
    decisions: new RolloutDecisions({ rollouts: shared.rollouts, audit, replicaId: name, now: Date.now }),
    groups: { markRollout: async () => ({}) } as unknown as Groups,
    configurations: versionTwo,
    agents: {
      list,
      listGroupTargets: o.listGroupTargets ?? ((namespace, group, page) => scanGroupTargets(list, namespace, group, page)),
      listRevisions: o.listRevisions ?? ((q) => scanRevisions(list, q)),
    },
    pin: o.pin ?? eachPinned(() => "pinned"),
    logger: o.logger ?? silentLogger(),
    replicaId: name,
    leaseMs: LEASE,
  });
}

/**
 * Agents of group "g" at version 1, none pinned, under `uids`; the group's
 * target listing of them; and what storing a pin does to one here: its
 * version, a new revision, and at once an APPLIED report of the pin's files.
 */
function groupAgents(uids: readonly string[]) {
  const agents = new Map(
    uids.map((u) => {
      const a = stuckAgent();
      a.metadata!.instanceUid = Buffer.from(u, "hex");
      a.spec!.assignment!.version = 1;
      a.spec!.assignment!.rollout = "";
      return [u, a] as const;
    }),
  );
  const listGroupTargets: AgentLister["listGroupTargets"] = async (_ns, group, page) =>
    group === "g" ? uids.filter((u) => !page.after || u > page.after).slice(0, page.limit).map((uid) => ({ uid, version: agents.get(uid)!.spec!.assignment!.version, rollout: agents.get(uid)!.spec!.assignment!.rollout })) : [];
  const storePin = (uid: string, p: RolloutPin) => {
    const a = agents.get(uid)!;
    a.revision++;
    a.spec!.assignment!.version = p.version;
    a.spec!.assignment!.rollout = p.rollout;
    a.status!.remoteConfigStatus = create(RemoteConfigStatusSchema, { lastRemoteConfigHash: p.hash, status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED });
  };
  return { agents, listGroupTargets, storePin };
}

/** A batch pin (PinAgents) that does `each` to every agent of the batch. */
function eachPinned(each: (uid: string, pin: RolloutPin) => string): PinAgents {
  return async (uids, _ns, pin) => new Map(uids.map((uid) => [uid, each(uid, pin)]));
}

/** Advances fake time in small steps, stopping as soon as `done` holds; the time it took. */
async function until(done: () => boolean, maxMs: number): Promise<number> {
  const from = Date.now();
  while (!done()) {
    if (Date.now() - from > maxMs) throw new Error(`not within ${maxMs} ms`);
    await vi.advanceTimersByTimeAsync(50);
  }
  return Date.now() - from;
}

describe("RolloutDriver leases", () => {
  let shared: { rollouts: MemoryRollouts; leases: MemoryLeases; audit: AuditedChange[] };
  const drivers: RolloutDriver[] = [];
  const forever = new Promise<never>(() => {});

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    shared = { rollouts: new MemoryRollouts(), leases: new MemoryLeases(), audit: [] };
  });
  afterEach(async () => {
    for (const d of drivers.splice(0)) void d.stop();
    vi.useRealTimers();
  });
  const start = (d: RolloutDriver) => (drivers.push(d), d.start(TICK), d);

  it("the leader renews its lease every third of a lease while one step takes longer than several leases, and no other replica takes over", async () => {
    await shared.rollouts.create(rollout({ state: RolloutStageState.PENDING }));
    // The leader's first agent read takes four leases (a busy database); its pins (none) would count as progress.
    let release!: (a: Agent[]) => void;
    let reads = 0;
    const slow = () => (reads++ === 0 ? new Promise<Agent[]>((r) => (release = r)) : Promise.resolve([]));
    start(replica("a", shared, { list: slow }));
    await until(() => shared.leases.terms.length === 1, 1_000);
    start(replica("b", shared));

    // Two leases: the step stays within its progress allowance, so its lease is renewed and stays unexpired.
    for (let t = 0; t < 2 * LEASE; t += 100) {
      await vi.advanceTimersByTimeAsync(100);
      const lease = (await shared.leases.latest("r1"))!;
      expect(lease.holder).toBe("a");
      expect(lease.expiresAt).toBeGreaterThan(Date.now() + LEASE / 3);
    }
    release([]);
    await until(() => shared.rollouts.latest("r1").sequence > 1n, 2_000);
    for (let t = 0; t < 3 * LEASE; t += 100) await vi.advanceTimersByTimeAsync(100);
    expect(shared.leases.terms.map((l) => l.holder)).toEqual(["a"]);
    expect(shared.audit.filter((c) => c.kind === "rollout_taken_over")).toEqual([]);
  });

  it("a leader whose step never returns stops renewing after two leases; another replica takes over, and the leader's tick goes on past its deadline", async () => {
    await shared.rollouts.create(rollout({ state: RolloutStageState.PENDING }));
    const warnings: unknown[] = [];
    const logger = { ...silentLogger(), warn: (o: unknown) => void warnings.push(o) } as Logger;
    start(replica("a", shared, { list: () => forever, logger }));
    await until(() => shared.leases.terms.length === 1, 1_000);
    const claimedAt = Date.now();
    start(replica("b", shared));

    const took = await until(() => shared.leases.terms.length === 2, 6 * LEASE);
    // Renewed for two leases (progress allowance), then expired for half a lease more before b may claim.
    expect(took).toBeGreaterThanOrEqual(2 * LEASE);
    expect(Date.now() - claimedAt).toBeLessThanOrEqual(2 * LEASE + LEASE + LEASE / 2 + LEASE / 3 + 2 * TICK);
    expect((await shared.leases.latest("r1"))!).toMatchObject({ term: 2, holder: "b" });
    expect(shared.audit.filter((c) => c.kind === "rollout_taken_over").map((c) => c.requestedBy)).toEqual(["b"]);
    await until(() => shared.rollouts.latest("r1").sequence > 1n, 2_000);

    // a's hung step is left at its deadline (30 s) and logged; a then sees b's lease and stays out.
    await until(() => warnings.some((w) => (w as { err?: unknown }).err instanceof StepDeadlineError), 31_000);
    for (let t = 0; t < 2 * LEASE; t += 100) await vi.advanceTimersByTimeAsync(100);
    expect((await shared.leases.latest("r1"))!).toMatchObject({ term: 2, holder: "b" });
  });

  it("a new leader judges the stage timeout from the stage's stored start, not from when it took over", async () => {
    const startedAt = Date.now() - 5_000;
    await shared.rollouts.create(rollout({ state: RolloutStageState.APPLYING, startedAt, agents: [UID] }, 8_000));
    // An old leader's lease ran out just now: b takes over 5 s into an 8 s stage timeout.
    await shared.leases.claim({ rolloutId: "r1", term: 1, holder: "old", expiresAt: Date.now() - LEASE });
    const agent = stuckAgent();
    let pins = 0;
    const pin = eachPinned(() => (pins++, "pinned"));
    start(replica("b", shared, { list: async (q) => (q.instanceUids?.includes(UID) || q.where?.(agent) ? [agent] : []), pin }));

    const took = await until(() => shared.rollouts.latest("r1").state === RolloutState.PAUSED, 10_000);
    // The stage's agent already carries the pin (stored): the new leader does not send it again.
    expect(pins).toBe(0);
    const r = shared.rollouts.latest("r1");
    expect(took).toBeLessThan(3_000 + 2 * TICK);
    expect(timestampMs(r.stages[0]!.startedAt!)).toBe(startedAt);
    expect(r.stages[0]!.failures.map((f) => f.kind)).toEqual([StageFailureKind.TIMED_OUT]);
    expect(shared.audit.map((c) => c.kind)).toEqual(expect.arrayContaining(["rollout_taken_over", "rollout_stage_resumed", "rollout_stage_failed"]));
  });

  it("a new leader of a baking stage starts the bake again but keeps the stage's start", async () => {
    const startedAt = Date.now() - 5_000;
    await shared.rollouts.create(rollout({ state: RolloutStageState.BAKING, startedAt, bakingSince: Date.now() - 500, agents: [UID] }));
    await shared.leases.claim({ rolloutId: "r1", term: 1, holder: "old", expiresAt: Date.now() - LEASE });
    start(replica("b", shared, { list: async () => [] }));

    await until(() => shared.rollouts.latest("r1").sequence > 1n, 2_000);
    const resumed = shared.rollouts.decisions.get("r1")![1]!;
    expect(resumed.stages[0]!.state).toBe(RolloutStageState.APPLYING);
    expect(resumed.stages[0]!.bakingSince).toBeUndefined();
    expect(timestampMs(resumed.stages[0]!.startedAt!)).toBe(startedAt);
  });

  it("with zero bake, goes from one stage to the next without waiting for the tick", async () => {
    const r = rollout({ state: RolloutStageState.PENDING });
    r.gate!.bakeTime = durationFromMs(0);
    r.stages.push(clone(RolloutSchema, r).stages[0]!, clone(RolloutSchema, r).stages[0]!);
    await shared.rollouts.create(r);
    const d = replica("a", shared);
    drivers.push(d);
    d.start(60_000);
    // Three stages (of no agents here), each begun, baked and passed: seven decisions, none waiting a minute for the next tick.
    const took = await until(() => shared.rollouts.latest("r1").state === RolloutState.SUCCEEDED, 2_000);
    expect(took).toBeLessThan(1_000);
    expect(shared.rollouts.latest("r1").stages.map((s) => s.state)).toEqual([RolloutStageState.PASSED, RolloutStageState.PASSED, RolloutStageState.PASSED]);
  });

  it("passes a stage within a fraction of a second of its agents' reports, not at the next tick", async () => {
    const r = rollout({ state: RolloutStageState.PENDING });
    r.gate!.bakeTime = durationFromMs(0);
    await shared.rollouts.create(r);
    const agent = stuckAgent();
    agent.spec!.assignment!.version = 1;
    agent.spec!.assignment!.rollout = "";
    // The agent reports APPLIED 700 ms after its pin: after the first looks, long before the minute's tick.
    const pin = eachPinned((_uid, p) => {
      setTimeout(() => {
        agent.status!.remoteConfigStatus = create(RemoteConfigStatusSchema, { lastRemoteConfigHash: p.hash, status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED });
      }, 700);
      return "pinned";
    });
    const d = replica("a", shared, { list: async (q) => (q.instanceUids?.includes(UID) || q.where?.(agent) ? [agent] : []), pin });
    drivers.push(d);
    d.start(60_000);
    const took = await until(() => shared.rollouts.latest("r1").state === RolloutState.SUCCEEDED, 5_000);
    expect(took).toBeLessThan(2_000);
  });

  it("while a stage waits, a look reads the stage's revisions and re-reads only the agents whose revision moved; its decision is taken on every agent read afresh", async () => {
    const uids = ["a", "b", "c"].map((c) => c.repeat(32));
    const r = rollout({ state: RolloutStageState.APPLYING, startedAt: Date.now(), agents: uids });
    r.gate!.bakeTime = durationFromMs(0);
    await shared.rollouts.create(r);
    const { hash } = await new VersionFileCache(versionTwo).get("default", "c", 2);
    const { agents, counts, list, listRevisions } = storedAgents(uids);
    // A stored change moves the agent's revision, as every store's save does.
    const change = (u: string, f: (a: Agent) => void) => {
      const a = agents.get(u)!;
      f(a);
      a.revision++;
    };
    const apply = (a: Agent) => (a.status!.remoteConfigStatus = create(RemoteConfigStatusSchema, { lastRemoteConfigHash: hash, status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED }));
    change(uids[0]!, apply);
    change(uids[1]!, apply);
    const { reads } = counts;
    start(replica("a", shared, { list, listRevisions }));
    await until(() => counts.revisionReads >= 1, 5_000);
    // Full reads as a new leader starts (which agents carry the pin, the first look), then revisions only: nothing moved.
    const full = reads.length;
    expect(reads.every((read) => read.length === 3)).toBe(true);
    await until(() => counts.revisionReads >= 4, 5_000);
    expect(reads.length).toBe(full);

    // The third agent reports, but not APPLIED yet: only it is read again.
    change(uids[2]!, (a) => (a.status!.sequenceNum = 7n));
    await until(() => reads.length > full, 5_000);
    expect(reads.slice(full)).toEqual([[uids[2]]]);

    // The first agent is deleted and stored anew, disconnected, at the revision its old copy had;
    // the third applies. The look (the first's old copy kept) would pass; the full read waits.
    const again = clone(AgentSchema, agents.get(uids[0]!)!);
    again.status!.connected = false;
    agents.set(uids[0]!, again);
    change(uids[2]!, apply);
    const before = reads.length;
    await until(() => reads.slice(before).some((read) => read.length === 3), 5_000);
    for (let t = 0; t < 2_000; t += 100) await vi.advanceTimersByTimeAsync(100);
    expect(shared.rollouts.latest("r1").state).toBe(RolloutState.RUNNING);
    change(uids[0]!, (a) => (a.status!.connected = true));
    await until(() => shared.rollouts.latest("r1").state === RolloutState.SUCCEEDED, 5_000);
  });

  it("a look reads an agent deleted since the last one as gone", async () => {
    const uids = ["a", "b"].map((c) => c.repeat(32));
    const r = rollout({ state: RolloutStageState.APPLYING, startedAt: Date.now(), agents: uids });
    r.gate = { ...r.gate!, threshold: { case: "maxFailedAgents", value: 0 } } as typeof r.gate;
    await shared.rollouts.create(r);
    const { agents, counts, list, listRevisions } = storedAgents(uids);
    start(replica("a", shared, { list, listRevisions }));
    await until(() => counts.revisionReads >= 2, 5_000);
    agents.delete(uids[1]!);
    await until(() => shared.rollouts.latest("r1").state === RolloutState.PAUSED, 5_000);
    expect(shared.rollouts.latest("r1").stages[0]!.failures.map((f) => [f.instanceUid, f.kind, f.detail])).toEqual([[uids[1], StageFailureKind.DISCONNECTED, "the agent was deleted"]]);
  });

  it("chooses each stage's agents from the group's target listing, without reading the namespace's agents", async () => {
    const r = rollout({ state: RolloutStageState.PENDING });
    r.gate!.bakeTime = durationFromMs(0);
    r.stages.push(clone(RolloutSchema, r).stages[0]!);
    await shared.rollouts.create(r);
    const uids = ["a", "b"].map((c) => c.repeat(32));
    const { agents, listGroupTargets, storePin } = groupAgents(uids);
    const scans: AgentQuery[] = [];
    const list = async (q: AgentQuery) => (q.instanceUids ? q.instanceUids.flatMap((u) => (agents.has(u) ? [agents.get(u)!] : [])) : (scans.push(q), []));
    const pin = eachPinned((uid, p) => (storePin(uid, p), "pinned"));
    start(replica("a", shared, { list, listGroupTargets, pin }));
    await until(() => shared.rollouts.latest("r1").state === RolloutState.SUCCEEDED, 5_000);
    expect(shared.rollouts.latest("r1").stages.map((s) => s.agents)).toEqual([[uids[0]], [uids[1]]]);
    expect(scans).toEqual([]);
  });

  it("pins a stage's agents in batches of at most 256, and pins again, as a repeat, only the agents whose pin failed in a batch", async () => {
    const r = rollout({ state: RolloutStageState.PENDING });
    r.gate!.bakeTime = durationFromMs(0);
    r.stages[0]!.spec!.size = { case: "agents", value: 600 };
    await shared.rollouts.create(r);
    const uids = Array.from({ length: 600 }, (_, i) => i.toString(16).padStart(32, "0"));
    const { agents, listGroupTargets, storePin } = groupAgents(uids);
    const list = async (q: AgentQuery) => (q.instanceUids ?? []).flatMap((u) => (agents.has(u) ? [clone(AgentSchema, agents.get(u)!)] : []));
    // One agent in the middle of the second batch meets a conflict it cannot settle the first time.
    const unlucky = uids[300]!;
    const calls: Array<{ size: number; repeat: boolean; uids: readonly string[] }> = [];
    const pin: PinAgents = async (batch, _ns, p, _by, o) => {
      calls.push({ size: batch.length, repeat: o.repeat, uids: batch });
      return new Map<string, string | Error>(
        batch.map((uid) => {
          if (uid === unlucky && !o.repeat) return [uid, new Error(`agent ${uid} changed concurrently`)] as const;
          storePin(uid, p);
          return [uid, "pinned"] as const;
        }),
      );
    };
    start(replica("a", shared, { list, listGroupTargets, pin }));
    await until(() => shared.rollouts.latest("r1").state === RolloutState.SUCCEEDED, 10_000);
    expect(calls.filter((c) => !c.repeat).map((c) => c.size)).toEqual([256, 256, 88]);
    expect(calls.filter((c) => c.repeat).map((c) => c.uids)).toEqual([[unlucky]]);
  });

  it("pins the agents its preflight left out as repeats (per agent, on the channel every replica version takes): nothing checks them again", async () => {
    const r = rollout({ state: RolloutStageState.PENDING });
    r.gate!.bakeTime = durationFromMs(0);
    const uids = ["a", "b", "c"].map((c) => c.repeat(32));
    r.skippedAgents = [uids[2]!];
    await shared.rollouts.create(r);
    const { agents, listGroupTargets, storePin } = groupAgents(uids);
    const list = async (q: AgentQuery) => (q.instanceUids ?? []).flatMap((u) => (agents.has(u) ? [clone(AgentSchema, agents.get(u)!)] : []));
    const calls: Array<{ uids: readonly string[]; repeat: boolean; version: number }> = [];
    const pin: PinAgents = async (batch, _ns, p, _by, o) => {
      calls.push({ uids: batch, repeat: o.repeat, version: p.version });
      for (const uid of batch) storePin(uid, p);
      return new Map(batch.map((uid) => [uid, "pinned"]));
    };
    start(replica("a", shared, { list, listGroupTargets, pin }));
    await until(() => calls.some((c) => c.uids.includes(uids[2]!)), 10_000);
    expect(calls.find((c) => c.uids.includes(uids[2]!))).toEqual({ uids: [uids[2]!], repeat: true, version: r.fromVersion });
  });

  it("a pin that never returns does not hold the stage's judgement", async () => {
    const startedAt = Date.now();
    await shared.rollouts.create(rollout({ state: RolloutStageState.APPLYING, startedAt, agents: [UID] }, 15_000));
    const agent = stuckAgent();
    start(replica("a", shared, { list: async (q) => (q.instanceUids?.includes(UID) || q.where?.(agent) ? [agent] : []), pin: () => forever }));

    const took = await until(() => shared.rollouts.latest("r1").state === RolloutState.PAUSED, 20_000);
    expect(took).toBeGreaterThanOrEqual(15_000);
    expect(took).toBeLessThan(15_000 + 10_000 + 2 * TICK);
    expect(shared.rollouts.latest("r1").stages[0]!.failures.map((f) => f.kind)).toEqual([StageFailureKind.TIMED_OUT]);
  });
});
