import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { RolloutFailureAction, RolloutStageState, RolloutState, StageFailureKind, type Rollout, type RolloutStage } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { runBounded, type Logger } from "@fleetplane/platform";
import type { GroupTarget } from "../agents/agent-repository.js";
import type { RolloutPin } from "../agents/config-assignment.js";
import { hashesEqual } from "../agents/config-hash.js";
import type { Configurations } from "../fleet/configurations.js";
import { FleetResourceNotFoundError } from "../fleet/fleet-errors.js";
import type { Groups } from "../fleet/groups.js";
import { agentsNamed, revisionsNamed } from "../agents/agent-pages.js";
import { groupTargets, isRolloutTarget, uidOf, type AgentLister } from "./group-agents.js";
import { evaluateStage, gateSettings, type StageEvaluation } from "./health-gate.js";
import { isFinished, type RolloutDecisions } from "./rollout-decisions.js";
import type { RolloutLease, RolloutLeaseRepository, RolloutRepository } from "./rollout-repository.js";
import { PIN_BATCH } from "./pin-routing.js";
import { stageMembers } from "./stage-plan.js";
import { withDeadline } from "./step-deadline.js";
import { VersionFileCache, type VersionFiles } from "./version-files.js";

/**
 * Pins a version on a batch of agents (PinRouting.pinMany): what it did to
 * each, or the error one met. `repeat`: these agents were pinned before and
 * their stored copy still lacks it.
 */
export type PinAgents = (uids: readonly string[], namespace: string, pin: RolloutPin, requestedBy: string, o: { repeat: boolean }) => Promise<Map<string, string | Error>>;

export interface RolloutDriverOptions {
  rollouts: RolloutRepository;
  leases: RolloutLeaseRepository;
  decisions: RolloutDecisions;
  groups: Groups;
  configurations: Configurations;
  agents: AgentLister;
  pin: PinAgents;
  /**
   * Tells every replica an agent changed (replica notices): a replica that
   * serves a stage's agent from a cached copy reads it again on its next
   * message, so a pin whose push was lost still reaches it. None: one replica.
   */
  remind?: (uid: string, connectionId: string, storedRevision: bigint) => Promise<void>;
  logger: Logger;
  /** This replica's name in leases and decisions (stable across restarts for a single replica). */
  replicaId: string;
  /**
   * How long a lease lasts without renewal. Default 15 s. It is renewed every
   * third of that on its own timer (not by the tick, which may be busy
   * pinning a large stage), and another replica claims it only once it has
   * been expired for half a lease more: a renewal that a busy machine makes
   * late does not hand the rollout over. A dead leader's rollouts wait 1.5
   * leases.
   */
  leaseMs?: number;
  /**
   * How long the tick waits for one rollout's step (its reads, decisions,
   * pins) before it leaves it and goes on; the step is taken again at the
   * next tick. Default: 30 s or two leases, whichever is longer.
   */
  stepDeadlineMs?: number;
  /** How long a step waits for one batch of pins (PIN_BATCH agents); an agent left without its pin is pinned again (repin). Default 10 s. */
  pinDeadlineMs?: number;
  now?: () => number;
}

/** Batches in flight at once: one is read and written while the next is sent out. */
const PIN_BATCHES_IN_FLIGHT = 2;
/** Reminders (replica notices) sent at once. */
const REMIND_CONCURRENCY = 16;
/** Progress (counts) is stored at most this often while a stage waits; decisions are stored at once. */
const PROGRESS_EVERY_MS = 1_000;
/** A stage's agents that have not confirmed its version are reminded about at most this often. */
const REMIND_EVERY_MS = 5_000;
/** Agents whose stored copy lacks their pin are pinned again at most this often (a pin sent to another replica takes a moment to be stored). */
const REPIN_EVERY_MS = 2_000;
/**
 * A stage waiting for its agents is looked at again before the next tick,
 * after this many times the time its last look took (at least
 * LOOK_AGAIN_MIN_MS), doubled for each look in a row that saw no count
 * move: a small stage is passed within a fraction of a second of its last
 * agent's report instead of up to a tick later, looks at a large one, which
 * cost more, take at most a fifth of the time, and a stage whose agents
 * went quiet is soon left to the tick (beyond a tick apart, the tick does
 * it). A bake that ends before the next tick is looked at as it ends.
 */
const LOOK_AGAIN_AFTER_LOOKS = 4;
const LOOK_AGAIN_MIN_MS = 100;

/**
 * Drives the rollouts whose lease this replica holds: each tick it looks at
 * every unfinished rollout, claims or renews its lease, and takes the next
 * step — choose a stage's agents, pin the new version on them, judge the
 * stage by the health gate, pass it or fail it, roll back, and finally mark
 * the group. Every decision is stored (RolloutDecisions) before anything is
 * sent because of it, so a replica that takes over repeats at most the
 * sending, which is idempotent. The report path is never involved: agents'
 * reports are read from the store here.
 */
export class RolloutDriver {
  private readonly now: () => number;
  private readonly leaseMs: number;
  private readonly stepDeadlineMs: number;
  private readonly pinDeadlineMs: number;
  /** Effects already carried out while leading (begin, a stage's pins, a rollback); forgotten with the lease. */
  private readonly done = new Set<string>();
  private readonly progressAt = new Map<string, number>();
  private readonly remindedAt = new Map<string, number>();
  private readonly repinnedAt = new Map<string, number>();
  /** What the last look at each rollout's stage counted ("stage/applied/pending/failed"), and how many looks in a row saw the same. */
  private readonly lastLook = new Map<string, { counts: string; quiet: number }>();
  /**
   * Each rollout's current stage as its last look read it: a copy of every
   * agent of the stage that was stored then, under the stage's
   * "index/startedAt". The next look asks the store for the stage's
   * revisions only (nothing decoded) and reads again just the agents whose
   * revision moved (a report, a disconnect, a pin) — a stage of thousands
   * is looked at every few hundred milliseconds, and decoding all of its
   * agents each time was most of what a look cost. Every stored change of
   * an agent moves its revision, so the view is the store's, agent by
   * agent; still, whatever a look decides other than waiting is decided
   * again on a full read (an agent deleted and stored anew can come back
   * at a revision its old copy had).
   */
  private readonly views = new Map<string, { key: string; agents: Map<string, Agent> }>();
  /** The leases this replica holds, renewed by `renewTimer`. */
  private readonly held = new Map<string, RolloutLease>();
  private renewTimer: NodeJS.Timeout | undefined;
  /** When a step last got somewhere (a lease read and kept, an agent pinned, a step finished): a leader whose steps hang stops renewing (see renewHeld). */
  private steppedAt = 0;
  private renewing: Promise<void> | undefined;
  private readonly versions: VersionFileCache;
  private timer: NodeJS.Timeout | undefined;
  private tickMs = 0;
  /** The look at a waiting stage that comes before the next tick (see LOOK_AGAIN_AFTER_LOOKS). */
  private soon: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly deps: RolloutDriverOptions) {
    this.now = deps.now ?? Date.now;
    this.leaseMs = deps.leaseMs ?? 15_000;
    this.stepDeadlineMs = deps.stepDeadlineMs ?? Math.max(30_000, 2 * this.leaseMs);
    this.pinDeadlineMs = deps.pinDeadlineMs ?? 10_000;
    this.versions = new VersionFileCache(deps.configurations);
  }

  start(intervalMs: number): void {
    this.stopped = false;
    this.tickMs = intervalMs;
    this.timer = setInterval(() => this.nudge(), intervalMs);
    this.timer.unref();
    this.renewTimer = setInterval(() => void (this.renewing ??= this.renewHeld().finally(() => (this.renewing = undefined))), Math.max(100, this.leaseMs / 3));
    this.renewTimer.unref();
    this.nudge();
  }

  /**
   * Extends every lease this replica holds (one pass at a time), while its
   * steps make progress (see steppedAt; within two leases): one stuck on a
   * call that never returns must let another replica take over, even
   * though the tick leaves it at its deadline and comes back to it.
   */
  private async renewHeld(): Promise<void> {
    if (this.now() - this.steppedAt > 2 * this.leaseMs) return;
    for (const [id, lease] of this.held) {
      if (this.stopped) return;
      const renewed = { ...lease, expiresAt: this.now() + this.leaseMs };
      try {
        await withDeadline(this.deps.leases.renew(renewed), this.leaseMs, "renewing a rollout lease");
        if (this.held.get(id) === lease) this.held.set(id, renewed);
      } catch (err) {
        this.deps.logger.warn({ err, rollout: id }, "could not renew a rollout lease; retrying");
      }
    }
  }

  /** Runs a tick now (or right after the one under way). */
  nudge(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.tick()
      .catch((err) => this.deps.logger.warn({ err }, "rollout tick failed; retrying at the next"))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.nudge();
        }
      });
  }

  /**
   * Takes the next step right after this tick when the driver runs on its
   * timer: a decision that opens the next step (a stage passed, a bake
   * begun) would otherwise wait up to a tick — 1 s per stage at the
   * default, most of the time between two stages of a large rollout.
   */
  private goOn(): void {
    if (this.timer) this.nudge();
  }

  /** Looks at the rollouts again in `afterMs`, when that comes before the next tick (see LOOK_AGAIN_AFTER_LOOKS). */
  private lookAgain(afterMs: number): void {
    if (!this.timer || this.soon || afterMs >= this.tickMs) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.nudge();
    }, afterMs);
    this.soon.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.renewTimer) clearInterval(this.renewTimer);
    clearTimeout(this.soon);
    this.soon = undefined;
    await this.running;
    await this.renewing;
  }

  /** One pass over every unfinished rollout. */
  async tick(): Promise<void> {
    for (const { namespace, id } of await withDeadline(this.deps.rollouts.active(), this.stepDeadlineMs, "listing the unfinished rollouts")) {
      if (this.stopped) return;
      try {
        await withDeadline(this.stepOne(namespace, id), this.stepDeadlineMs, `rollout ${namespace}/${id}'s step`);
        this.steppedAt = this.now();
      } catch (err) {
        this.deps.logger.warn({ err, namespace, rollout: id }, "rollout step failed; retrying at the next tick");
      }
    }
  }

  private async stepOne(namespace: string, id: string): Promise<void> {
    const rollout = await this.deps.rollouts.get(namespace, id);
    if (!rollout || !(await this.lead(rollout))) return;
    this.steppedAt = this.now();
    await this.step(rollout);
  }

  /** Claims or renews the rollout's lease; false when another replica holds it. */
  private async lead(rollout: Rollout): Promise<boolean> {
    const now = this.now();
    const me = this.deps.replicaId;
    const held = await this.deps.leases.latest(rollout.id);
    // Late renewals are tolerated for half a lease (see leaseMs), by the holder and by the others alike.
    const live = held !== undefined && held.expiresAt + this.leaseMs / 2 > now;
    if (held && live && held.holder === me) {
      const renewed = { ...held, expiresAt: now + this.leaseMs };
      await this.deps.leases.renew(renewed);
      this.held.set(rollout.id, renewed);
      return true;
    }
    if (live) return this.forget(rollout.id);
    const lease = { rolloutId: rollout.id, term: (held?.term ?? 0) + 1, holder: me, expiresAt: now + this.leaseMs };
    const won = await this.deps.leases.claim(lease);
    if (!won) return this.forget(rollout.id);
    this.held.set(rollout.id, lease);
    // A new term: effects carried out under an old one are done again (they are idempotent).
    for (const key of this.done) if (key.startsWith(`${rollout.id}/`)) this.done.delete(key);
    if (held && held.holder !== me) {
      this.deps.logger.info({ rollout: rollout.id, from: held.holder }, "rollout taken over: its leader's lease ran out");
      await this.deps.decisions.audit(rollout, { kind: "rollout_taken_over", requestedBy: me, detail: `driven by ${me} from decision ${rollout.sequence}; ${held.holder}'s lease ran out` });
    }
    return true;
  }

  private forget(id: string): false {
    this.held.delete(id);
    this.views.delete(id);
    for (const key of this.done) if (key.startsWith(`${id}/`)) this.done.delete(key);
    return false;
  }

  private async step(rollout: Rollout): Promise<void> {
    if (isFinished(rollout.state)) return this.finish(rollout);
    if (rollout.state === RolloutState.PAUSED) return;
    const first = !this.done.has(`${rollout.id}/led`);
    const targets = await this.begin(rollout);
    if (rollout.state === RolloutState.ROLLING_BACK) return this.rollBack(rollout);
    let r: Rollout | undefined = rollout;
    if (first) r = await this.resumeStage(rollout);
    if (!r) return;
    this.done.add(`${rollout.id}/led`);
    let startedHere = false;
    if (r.stages[r.currentStage]!.state === RolloutStageState.PENDING) {
      const next = await this.startStage(r, targets);
      if (!next) return;
      r = next;
      startedHere = true;
    }
    await this.judge(r, startedHere);
  }

  /**
   * Marks the group as rolling out, after pinning under this rollout the
   * agents that must not move when it does: those an earlier rollout left
   * on another version than the group's (held back by its preflight, or
   * moved before an abort) stay on theirs, and those this preflight left
   * out stay on the group's. Pins are idempotent, so this is repeated by
   * every new leader. Returns the group's agents as it read them (a stage
   * that starts in the same step chooses from them: one pass over the
   * group, not two), or nothing when it had begun already.
   */
  private async begin(r: Rollout): Promise<GroupTarget[] | undefined> {
    const key = `${r.id}/begin`;
    if (this.done.has(key)) return undefined;
    const targets = await groupTargets(this.deps.agents, r.namespace, r.group);
    // Agents this rollout already pinned (its stages' moves) are not an earlier rollout's leftovers: a new leader leaves them be.
    const held = targets.filter((a) => a.version !== r.fromVersion && a.rollout !== r.id);
    const heldUids = new Set(held.map((a) => a.uid));
    const byVersion = new Map<number, string[]>([[r.fromVersion, r.skippedAgents.filter((u) => !heldUids.has(u))]]);
    for (const a of held) byVersion.set(a.version, [...(byVersion.get(a.version) ?? []), a.uid]);
    let failed = 0;
    // As repeats (per agent, on the channel every version takes): nothing re-checks these pins once begin is
    // done, so a replica of an older version, which does not take batches, must get them the first time.
    for (const [version, uids] of byVersion) failed += await this.pinAll(r, uids, { ...(await this.version(r, version)), version }, { repeat: true });
    // The targets as read before the holds were pinned: every agent the mark can move is among them (Groups.markRollout).
    await this.deps.groups.markRollout(r.namespace, r.group, { rollout: r.id, running: true }, requester(r), targets);
    // Nothing else pins these again: begin is repeated at the next tick until every pin is taken (the stage is judged meanwhile).
    if (failed === 0) this.done.add(key);
    return targets;
  }

  /**
   * A leader that starts leading a rollout mid-stage (it took it over, or
   * its process restarted) keeps the stage's clock as stored: the stage
   * timeout runs from the stage's start whoever leads, so leaders that keep
   * changing cannot hold a stage open past it. Only the bake starts again
   * (the stage goes back to waiting for its agents, which the interruption
   * may have moved to another gateway): time nobody watched is not counted
   * as healthy. Its agents and every decision before stand.
   */
  private async resumeStage(r: Rollout): Promise<Rollout | undefined> {
    const stage = r.stages[r.currentStage]!;
    if (stage.state !== RolloutStageState.APPLYING && stage.state !== RolloutStageState.BAKING) return r;
    const record = { kind: "rollout_stage_resumed", requestedBy: this.deps.replicaId, detail: `stage ${r.currentStage + 1}: judged by ${this.deps.replicaId}, which now leads; its timeout still runs from the stage's start` };
    if (stage.state === RolloutStageState.APPLYING) {
      await this.deps.decisions.audit(r, record);
      return r;
    }
    return this.deps.decisions.decide(
      r,
      (next) => {
        const s = next.stages[next.currentStage]!;
        s.state = RolloutStageState.APPLYING;
        delete s.bakingSince;
      },
      { ...record, detail: `${record.detail}; the bake starts again` },
    );
  }

  /**
   * Chooses the stage's agents from those not moved yet, and stores them
   * before any is sent the version. `read`: the group's agents as read in
   * this step (begin's pass), else they are read now.
   */
  private async startStage(r: Rollout, read?: readonly GroupTarget[]): Promise<Rollout | undefined> {
    const moved = new Set(r.stages.flatMap((s) => s.agents));
    const skipped = new Set(r.skippedAgents);
    const targets = read ?? (await groupTargets(this.deps.agents, r.namespace, r.group));
    const remaining = targets.map((a) => a.uid).filter((u) => !moved.has(u) && !skipped.has(u));
    const stage = r.stages[r.currentStage]!;
    const members = stageMembers(stage.spec!, remaining, moved.size);
    return this.deps.decisions.decide(
      r,
      (next) => {
        const s = next.stages[next.currentStage]!;
        s.state = RolloutStageState.APPLYING;
        s.agents = members;
        s.startedAt = timestampFromMs(this.now());
        s.pending = members.length;
      },
      { kind: "rollout_stage_started", requestedBy: this.deps.replicaId, detail: `stage ${r.currentStage + 1} of ${r.stages.length}: ${members.length} agents` },
    );
  }

  /**
   * Pins the stage's version on its agents (once per lease), then applies
   * the health gate to them as stored after that. `startedHere`: the stage
   * was chosen in this step, so none of its agents carries the pin yet.
   */
  private async judge(r: Rollout, startedHere = false): Promise<void> {
    const index = r.currentStage;
    const stage = r.stages[index]!;
    const startedAt = stage.startedAt ? timestampMs(stage.startedAt) : this.now();
    const pinKey = `${r.id}/pin/${index}/${startedAt}`;
    if (!this.done.has(pinKey)) {
      // A new leader sends only what the store shows missing: re-sending a whole stage on every
      // takeover adds the most load exactly when the store is too slow to keep a lease.
      const carrying = startedHere ? new Set<string>() : new Set((await agentsNamed(this.deps.agents, r.namespace, stage.agents)).filter((a) => carriesPin(a, r.id, r.toVersion)).map(uidOf));
      const to = await this.version(r, r.toVersion);
      await this.pinAll(r, stage.agents.filter((u) => !carrying.has(u)), { ...to, version: r.toVersion });
      // Pins just sent (some to the replica serving the agent) get REPIN_EVERY_MS to be stored before they count as lost.
      this.repinnedAt.set(r.id, this.now());
      this.done.add(pinKey);
    }
    const lookFrom = this.now();
    const to = await this.version(r, r.toVersion);
    const gate = gateSettings(r.gate);
    const clock = { startedAt, ...(stage.bakingSince ? { bakingSince: timestampMs(stage.bakingSince) } : {}) };
    // A look re-reads only the agents whose stored revision moved since the last (see `views`).
    const lookKey = `${index}/${startedAt}`;
    const kept = this.views.get(r.id);
    const view = kept?.key === lookKey ? kept.agents : new Map<string, Agent>();
    const fresh = view.size === 0;
    let { judged, gone } = await this.readStage(r, stage.agents, view);
    let e = evaluateStage([...judged.keys(), ...gone], judged, to.hash, clock, gate, this.now());
    if (!fresh && e.verdict !== "wait") {
      // A decision is only ever taken on every agent read afresh (see `views`).
      view.clear();
      ({ judged, gone } = await this.readStage(r, stage.agents, view));
      e = evaluateStage([...judged.keys(), ...gone], judged, to.hash, clock, gate, this.now());
    }
    if (e.verdict === "wait") this.views.set(r.id, { key: lookKey, agents: view });
    else this.views.delete(r.id);
    await this.repin(r, [...judged.values()], r.toVersion, to);
    await this.remindUnconfirmed(r, [...judged.values()], to.hash);
    const last = index === r.stages.length - 1;
    const lookMs = this.now() - lookFrom;
    switch (e.verdict) {
      case "wait":
        if (countsChanged(stage, e) && this.now() - (this.progressAt.get(r.id) ?? 0) >= PROGRESS_EVERY_MS) {
          this.progressAt.set(r.id, this.now());
          await this.deps.decisions.decide(r, (next) => withCounts(next.stages[index]!, e));
        }
        this.lookSoon(r, index, e, clock.bakingSince, gate.bakeMs, lookMs);
        return;
      case "bake":
        await this.deps.decisions.decide(r, (next) => {
          const s = withCounts(next.stages[index]!, e);
          s.state = RolloutStageState.BAKING;
          s.bakingSince = timestampFromMs(this.now());
        });
        // A zero bake passes at the next look: that look need not wait for the tick.
        this.goOn();
        return;
      case "pass": {
        const passed = await this.deps.decisions.decide(
          r,
          (next) => {
            const s = withCounts(next.stages[index]!, e);
            s.state = RolloutStageState.PASSED;
            s.finishedAt = timestampFromMs(this.now());
            if (last) {
              next.state = RolloutState.SUCCEEDED;
              next.reason = "every stage passed";
            } else next.currentStage = index + 1;
          },
          { kind: "rollout_stage_passed", requestedBy: this.deps.replicaId, detail: `stage ${index + 1} of ${r.stages.length}: ${e.applied} agents applied and stayed healthy` },
        );
        if (passed?.state === RolloutState.SUCCEEDED) await this.finish(passed);
        // The next stage starts now, not at the next tick.
        else this.goOn();
        return;
      }
      case "fail": {
        const rollBack = r.onFailure === RolloutFailureAction.ROLLBACK;
        const reason = `stage ${index + 1} failed: ${e.failures.length} of ${judged.size + gone.length} agents (${summary(e)})`;
        const next = await this.deps.decisions.decide(
          r,
          (n) => {
            const s = withCounts(n.stages[index]!, e);
            s.state = RolloutStageState.FAILED;
            s.finishedAt = timestampFromMs(this.now());
            n.state = rollBack ? RolloutState.ROLLING_BACK : RolloutState.PAUSED;
            n.reason = reason;
          },
          { kind: "rollout_stage_failed", requestedBy: this.deps.replicaId, detail: reason },
        );
        if (next) await this.deps.decisions.audit(next, { kind: rollBack ? "rollout_rolling_back" : "rollout_paused", requestedBy: this.deps.replicaId, detail: reason });
        if (next && rollBack) await this.rollBack(next);
        return;
      }
    }
  }

  /**
   * The stage's agents as stored, split into those it judges and those gone
   * (deleted). Agents that left the group (or got their own configuration)
   * since are no longer the stage's to judge. `view`: the copies the last
   * look read (see `views`), brought up to the store's revisions here —
   * only the agents whose revision moved are read; an empty view reads
   * every agent.
   */
  private async readStage(r: Rollout, members: readonly string[], view: Map<string, Agent>): Promise<{ judged: Map<string, Agent>; gone: string[] }> {
    if (view.size === 0) {
      for (const a of await agentsNamed(this.deps.agents, r.namespace, members)) view.set(uidOf(a), a);
    } else {
      const stored = await revisionsNamed(this.deps.agents, r.namespace, members);
      const moved = members.filter((u) => stored.has(u) && view.get(u)?.revision !== stored.get(u));
      for (const uid of [...view.keys()]) if (!stored.has(uid)) view.delete(uid);
      // An agent deleted between the two reads is not found by the second: gone.
      for (const uid of moved) view.delete(uid);
      for (const a of await agentsNamed(this.deps.agents, r.namespace, moved)) view.set(uidOf(a), a);
    }
    const judged = new Map<string, Agent>();
    const gone: string[] = [];
    for (const uid of members) {
      const a = view.get(uid);
      if (!a) gone.push(uid);
      else if (isRolloutTarget(a, r.group)) judged.set(uid, a);
    }
    return { judged, gone };
  }

  /** The look before the next tick at a stage that waits, if any (see LOOK_AGAIN_AFTER_LOOKS). */
  private lookSoon(r: Rollout, index: number, e: StageEvaluation, bakingSince: number | undefined, bakeMs: number, lookMs: number): void {
    if (bakingSince !== undefined) return this.lookAgain(Math.max(LOOK_AGAIN_MIN_MS, bakingSince + bakeMs - this.now()));
    const counts = `${index}/${e.applied}/${e.pending}/${e.failures.length}`;
    const last = this.lastLook.get(r.id);
    const quiet = last?.counts === counts ? last.quiet + 1 : 0;
    this.lastLook.set(r.id, { counts, quiet });
    this.lookAgain(Math.max(LOOK_AGAIN_MIN_MS, LOOK_AGAIN_AFTER_LOOKS * lookMs) * 2 ** Math.min(quiet, 20));
  }

  /** Gives every agent a stage moved the previous version again, then (once they all read back so) records the rollback done. */
  private async rollBack(r: Rollout): Promise<void> {
    const key = `${r.id}/rollback`;
    const from = await this.version(r, r.fromVersion);
    const moved = r.stages.filter((s) => s.state !== RolloutStageState.PENDING).flatMap((s) => s.agents);
    if (!this.done.has(key)) {
      await this.pinAll(r, moved, { ...from, version: r.fromVersion });
      this.done.add(key);
    }
    const found = await agentsNamed(this.deps.agents, r.namespace, moved);
    if (await this.repin(r, found.filter((a) => isRolloutTarget(a, r.group)), r.fromVersion, from)) return;
    const next = await this.deps.decisions.decide(r, (n) => void (n.state = RolloutState.ROLLED_BACK), {
      kind: "rollout_rolled_back",
      requestedBy: this.deps.replicaId,
      detail: `version ${r.fromVersion} given back to the agents that had moved`,
    });
    if (next) await this.finish(next);
  }

  /** The group's marks once the rollout is over (on success, the group's version moves), then the group's slot is freed. */
  private async finish(r: Rollout): Promise<void> {
    try {
      await this.deps.groups.markRollout(r.namespace, r.group, { rollout: r.id, running: false, ...(r.state === RolloutState.SUCCEEDED ? { version: r.toVersion } : {}) }, requester(r));
    } catch (err) {
      if (!(err instanceof FleetResourceNotFoundError)) throw err;
    }
    await this.deps.rollouts.release(r.namespace, r.group, r.id);
    this.forget(r.id);
    this.progressAt.delete(r.id);
    this.remindedAt.delete(r.id);
    this.repinnedAt.delete(r.id);
    this.lastLook.delete(r.id);
  }

  /**
   * Pins `version` again on the agents whose stored copy does not carry it,
   * at most every REPIN_EVERY_MS: a pin sent to the replica serving the
   * agent may have been lost on the bus, or not taken (that replica
   * restarted), or the agent disconnected meanwhile. True while some lack it.
   */
  private async repin(r: Rollout, agents: readonly Agent[], version: number, v: { config: RolloutPin["config"]; hash: Uint8Array }): Promise<boolean> {
    const lost = agents.filter((a) => !carriesPin(a, r.id, version)).map(uidOf);
    if (lost.length === 0) return false;
    // The first look only starts the clock: pins just sent (to the replica serving the agent) get a moment to be stored.
    const last = this.repinnedAt.get(r.id);
    if (last === undefined || this.now() - last < REPIN_EVERY_MS) {
      if (last === undefined) this.repinnedAt.set(r.id, this.now());
      return true;
    }
    this.repinnedAt.set(r.id, this.now());
    this.deps.logger.warn({ rollout: r.id, version, agents: lost.length, first: lost[0] }, "agents still lack the version their rollout pinned; pinning it again");
    await this.pinAll(r, lost, { ...v, version }, { repeat: true });
    return true;
  }

  /** Replica notices for the connected agents that have not reported on `hash` yet (see `remind`). */
  private async remindUnconfirmed(r: Rollout, agents: readonly Agent[], hash: Uint8Array): Promise<void> {
    if (!this.deps.remind) return;
    // The first look only starts the clock: the pins' own pushes go first.
    const last = this.remindedAt.get(r.id);
    if (last === undefined) this.remindedAt.set(r.id, this.now());
    if (last === undefined || this.now() - last < REMIND_EVERY_MS) return;
    this.remindedAt.set(r.id, this.now());
    const waiting = agents.filter((a) => a.status?.connected && !hashesEqual(a.status.remoteConfigStatus?.lastRemoteConfigHash, hash));
    await runBounded(waiting, REMIND_CONCURRENCY, (a) => this.deps.remind!(uidOf(a), a.status!.connectionId, a.revision));
  }

  /** Pins `v` on the agents, PIN_BATCH at a time; how many could not be pinned (logged). `repeat`: see PinAgents. */
  private async pinAll(r: Rollout, uids: readonly string[], v: { version: number; config: RolloutPin["config"]; hash: Uint8Array }, o: { repeat?: boolean } = {}): Promise<number> {
    const pin: RolloutPin = { group: r.group, configuration: r.configuration, version: v.version, rollout: r.id, config: v.config, hash: v.hash };
    const batches: string[][] = [];
    for (let i = 0; i < uids.length; i += PIN_BATCH) batches.push(uids.slice(i, i + PIN_BATCH));
    // One batch failing or hanging does not hold the others, nor the stage's judgement: repin sends its agents again.
    let failed = 0;
    let first: unknown;
    await runBounded(batches, PIN_BATCHES_IN_FLIGHT, async (batch) => {
      try {
        const outcomes = await withDeadline(this.deps.pin(batch, r.namespace, pin, requester(r), { repeat: o.repeat === true }), this.pinDeadlineMs, `pinning ${batch.length} agents from ${batch[0]}`);
        this.steppedAt = this.now();
        for (const outcome of outcomes.values()) {
          if (!(outcome instanceof Error)) continue;
          failed++;
          first ??= outcome;
        }
      } catch (err) {
        failed += batch.length;
        first ??= err;
      }
    });
    if (failed > 0) this.deps.logger.warn({ rollout: r.id, version: v.version, agents: failed, err: String(first) }, "could not pin a rollout's version on some agents; they are pinned again while their stored copy lacks it");
    return failed;
  }

  private version(r: Rollout, version: number): Promise<VersionFiles> {
    return this.versions.get(r.namespace, r.configuration, version);
  }
}

/** Who a rollout's commands are recorded as coming from. */
function requester(r: Rollout): string {
  return `rollout ${r.namespace}/${r.id}`;
}

/** Whether the stored agent carries the rollout's pin of `version`. */
function carriesPin(a: Agent, rollout: string, version: number): boolean {
  return a.spec?.assignment?.rollout === rollout && a.spec.assignment.version === version;
}

function countsChanged(stage: RolloutStage, e: StageEvaluation): boolean {
  return stage.applied !== e.applied || stage.pending !== e.pending || stage.failed !== e.failures.length;
}

function withCounts(stage: RolloutStage, e: StageEvaluation): RolloutStage {
  stage.applied = e.applied;
  stage.pending = e.pending;
  stage.failed = e.failures.length;
  stage.failures = e.failures;
  return stage;
}

/** "3 failed, 1 unhealthy" */
function summary(e: StageEvaluation): string {
  const counts = new Map<StageFailureKind, number>();
  for (const f of e.failures) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${n} ${StageFailureKind[kind]!.toLowerCase().replace("_", " ")}`).join(", ");
}
