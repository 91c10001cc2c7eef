import { clone } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { RolloutSchema, RolloutState, type Rollout } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import type { CommandAuditPort } from "../agents/command-audit-port.js";
import { newCommandId } from "../agents/command-id.js";
import type { RolloutRepository } from "./rollout-repository.js";

/** A decision's audit record: what was decided and by whom. */
export interface DecisionRecord {
  /** e.g. "rollout_stage_passed", "rollout_paused", "rollout_taken_over". */
  kind: string;
  requestedBy: string;
  /** Empty: the decided state's reason. */
  detail: string;
}

/** States after which nothing more is decided (what remains is to tidy the group up). */
export function isFinished(state: RolloutState): boolean {
  return state === RolloutState.SUCCEEDED || state === RolloutState.ABORTED || state === RolloutState.ROLLED_BACK;
}

/**
 * The id of the group's rollout that is not finished, read from its slot in
 * the store (the group's newest rollout), or undefined. The group's own
 * "under way" mark is written by the driver at its next tick, so for a
 * moment after StartRollout returns only the slot tells: a check that must
 * hold from that moment on (UpdateGroup, DeleteGroup) asks this too.
 */
export async function rolloutUnderWay(rollouts: Pick<RolloutRepository, "list">, namespace: string, group: string): Promise<string | undefined> {
  const [newest] = await rollouts.list(namespace, { limit: 1, group });
  return newest && !isFinished(newest.state) ? newest.id : undefined;
}

/**
 * The one way a rollout changes, for the driver and for admins alike: the
 * next state is derived from the latest stored one, stored under the next
 * decision number (an insert that only one writer can win), then audited.
 * Undefined when another replica or an admin decided first: the caller
 * reads again.
 */
export class RolloutDecisions {
  /** Waiters for this process's next decision (see nextDecision). */
  private waiters: Array<() => void> = [];

  constructor(private readonly deps: { rollouts: RolloutRepository; audit: CommandAuditPort; replicaId: string; now: () => number }) {}

  /**
   * Resolves when this process stores its next decision, or after `ms`,
   * whichever comes first: a watcher reads the store again at once when
   * the decision was taken here, and at its interval when another replica
   * may have taken it (nothing crosses replicas here).
   */
  nextDecision(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(), ms);
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      this.waiters.push(done);
    });
  }

  async decide(current: Rollout, change: (next: Rollout) => void, record?: DecisionRecord): Promise<Rollout | undefined> {
    const next = clone(RolloutSchema, current);
    change(next);
    next.sequence = current.sequence + 1n;
    next.updatedAt = timestampFromMs(this.deps.now());
    next.decidedBy = this.deps.replicaId;
    if (!(await this.deps.rollouts.record(next))) return undefined;
    for (const wake of this.waiters) wake();
    if (record) await this.audit(next, { ...record, detail: record.detail || next.reason });
    return next;
  }

  audit(rollout: Rollout, record: DecisionRecord): Promise<void> {
    return this.deps.audit.recordChange({
      id: newCommandId(this.deps.now()),
      namespace: rollout.namespace,
      resource: `rollout/${rollout.id}`,
      kind: record.kind,
      requestedBy: record.requestedBy,
      detail: `group ${rollout.group}, ${rollout.configuration} v${rollout.fromVersion} → v${rollout.toVersion}: ${record.detail}`,
    });
  }
}
