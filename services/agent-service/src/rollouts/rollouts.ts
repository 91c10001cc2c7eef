import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Group } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import {
  RolloutFailureAction,
  RolloutSchema,
  RolloutStageSchema,
  RolloutStageState,
  RolloutState,
  type PreflightResult,
  type Rollout,
} from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import type { StartRolloutRequest } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_service_pb";
import { InvalidRequestError } from "../agents/agent-errors.js";
import { newCommandId } from "../agents/command-id.js";
import type { Configurations } from "../fleet/configurations.js";
import { FleetResourceInUseError, FleetResourceNotFoundError } from "../fleet/fleet-errors.js";
import type { Groups } from "../fleet/groups.js";
import { preflightTargets, type AgentLister } from "./group-agents.js";
import { gateSettings } from "./health-gate.js";
import { componentsOfConfig, preflight } from "./preflight.js";
import { isFinished, type RolloutDecisions } from "./rollout-decisions.js";
import type { RolloutRepository } from "./rollout-repository.js";
import { validateStages } from "./stage-plan.js";

export interface RolloutsOptions {
  rollouts: RolloutRepository;
  decisions: RolloutDecisions;
  groups: Groups;
  configurations: Configurations;
  agents: AgentLister;
  /** Asks the driver to look at a rollout now rather than at its next tick. */
  nudge?: () => void;
  now?: () => number;
}

/** Decisions an admin call retries when the driver decided at the same moment. */
const ATTEMPTS = 5;
/** Agents named in a preflight refusal's message; the response lists them all. */
const NAMED = 10;
/**
 * How long a start waits for the driver to free a group whose last rollout
 * is already over (see whileWindingUp): the driver frees it at its next tick,
 * at once when nudged in this process, within a tick (1 s by default) on
 * another replica.
 */
const WIND_UP_LOOKS = 100;
const WIND_UP_LOOK_EVERY_MS = 50;

/**
 * Rollouts as admins see them: preflight, start, the operations (pause,
 * resume, abort, roll back) and reads. Every change is a decision stored
 * through RolloutDecisions; the driver (rollout-driver.ts) does the rest.
 */
export class Rollouts {
  private readonly now: () => number;

  constructor(private readonly deps: RolloutsOptions) {
    this.now = deps.now ?? Date.now;
  }

  /** Checks `version` of the group's configuration against the agents a rollout of it would move. */
  async preflight(namespace: string, groupName: string, version: number): Promise<PreflightResult> {
    const group = await this.deps.groups.get(namespace, groupName);
    const files = await this.deps.configurations.getVersion(namespace, group.configuration, version, { configuration: "group", version: "version" });
    return preflight(componentsOfConfig(files.files), await preflightTargets(this.deps.agents, namespace, group.name));
  }

  async start(req: StartRolloutRequest, requestedBy: string): Promise<{ rollout: Rollout; preflight: PreflightResult }> {
    const { namespace } = req;
    if (!req.group) throw new InvalidRequestError("group is empty: name the group to roll out");
    let group = await this.deps.groups.get(namespace, req.group);
    if (req.toVersion === 0) throw new InvalidRequestError("to_version is 0: name the version to roll out (versions count from 1)");
    if (req.toVersion === group.configurationVersion) {
      throw new InvalidRequestError(`to_version: group "${group.name}" already runs version ${req.toVersion} of ${group.configuration}`);
    }
    if (group.rolloutRunning) group = await this.afterWindUp(namespace, group);
    const stages = validateStages(req.stages);
    gateSettings(req.gate);
    const version = await this.deps.configurations.getVersion(namespace, group.configuration, req.toVersion, { configuration: "group", version: "to_version" });
    // Each target's id and components, not the agents whole (preflightTargets).
    const targets = await preflightTargets(this.deps.agents, namespace, group.name);
    if (targets.length === 0) throw new FleetResourceInUseError(`group: group "${group.name}" has no agents that take its configuration; nothing to roll out`);
    const uids = new Set(targets.map((t) => t.uid));
    stages.forEach((s, i) => {
      if (s.size.case !== "instanceUids") return;
      const stranger = s.size.value.instanceUids.find((u) => !uids.has(u.toLowerCase()));
      if (stranger) throw new InvalidRequestError(`stages[${i}].instance_uids: agent ${stranger} does not take group "${group.name}"'s configuration`);
    });

    const checked = preflight(componentsOfConfig(version.files), targets);
    if (checked.yamlError) throw new FleetResourceInUseError(`to_version: ${checked.yamlError}`);
    if (checked.missing.length > 0 && !req.skipFailedAgents) {
      const named = checked.missing.slice(0, NAMED).map((m) => `${m.instanceUid} lacks ${m.missingComponents.join(", ")}`);
      throw new FleetResourceInUseError(
        `preflight: ${checked.missing.length} agent(s) lack components version ${req.toVersion} names: ${named.join("; ")}${checked.missing.length > NAMED ? "; …" : ""}. Use a version they can run, or skip_failed_agents to leave them out`,
      );
    }

    const at = timestampFromMs(this.now());
    const rollout = create(RolloutSchema, {
      namespace,
      id: newCommandId(this.now()),
      group: group.name,
      configuration: group.configuration,
      fromVersion: group.configurationVersion,
      toVersion: req.toVersion,
      ...(req.gate ? { gate: req.gate } : {}),
      onFailure: req.onFailure === RolloutFailureAction.ROLLBACK ? RolloutFailureAction.ROLLBACK : RolloutFailureAction.PAUSE,
      state: RolloutState.RUNNING,
      stages: stages.map((spec) => create(RolloutStageSchema, { spec, state: RolloutStageState.PENDING })),
      currentStage: 0,
      skippedAgents: checked.missing.map((m) => m.instanceUid),
      createdAt: at,
      createdBy: requestedBy,
      updatedAt: at,
      sequence: 1n,
    });
    await this.createInSlot(rollout);
    await this.deps.decisions.audit(rollout, { kind: "rollout_started", requestedBy, detail: `${stages.length} stages, ${targets.length} agents, ${rollout.skippedAgents.length} left out by preflight` });
    this.deps.nudge?.();
    return { rollout, preflight: checked };
  }

  /**
   * The group once its last rollout is wound up. A rollout that is over
   * (aborted, succeeded, rolled back) keeps its group until the driver, the
   * one writer of a rollout's marks, frees it at its next tick; an admin who
   * sees "aborted" and starts the next rollout at once must not be told the
   * old one is under way. A rollout really under way is refused at once.
   */
  private async afterWindUp(namespace: string, group: Group): Promise<Group> {
    const last = await this.deps.rollouts.get(namespace, group.rollout);
    if (!last || !isFinished(last.state)) throw new FleetResourceInUseError(`group: group "${group.name}" has rollout ${group.rollout} under way; one rollout per group at a time`);
    const freed = await this.whileWindingUp(async () => {
      const now = await this.deps.groups.get(namespace, group.name);
      return now.rolloutRunning ? undefined : now;
    });
    if (freed) return freed;
    throw new FleetResourceInUseError(`group: rollout ${last.id} of group "${group.name}" is ${RolloutState[last.state]!.toLowerCase()} but its group is not freed yet; try again in a moment`);
  }

  /**
   * Stores the new rollout in its group's slot. The driver frees a finished
   * rollout's group in two writes, its marks and then its slot, so a start
   * that found the marks freed may still meet the slot held (afterWindUp):
   * held by a rollout that is over, the slot is waited for; held by one
   * under way, the start is refused at once.
   */
  private async createInSlot(rollout: Rollout): Promise<void> {
    const refused = () => new FleetResourceInUseError(`group: group "${rollout.group}" has a rollout under way; one rollout per group at a time`);
    const stored = await this.whileWindingUp(async () => {
      if (await this.deps.rollouts.create(rollout)) return true;
      const [holder] = await this.deps.rollouts.list(rollout.namespace, { limit: 1, group: rollout.group });
      if (!holder || !isFinished(holder.state)) throw refused();
      return undefined;
    });
    if (!stored) throw refused();
  }

  /**
   * Waits, bounded, for the driver to wind a finished rollout up: `look`
   * is asked up to WIND_UP_LOOKS + 1 times, WIND_UP_LOOK_EVERY_MS apart,
   * the driver nudged before each wait, until it answers; undefined when it
   * never did. `look` throws to end the wait at once.
   */
  private async whileWindingUp<T>(look: () => Promise<T | undefined>): Promise<T | undefined> {
    for (let n = 0; ; n++) {
      const found = await look();
      if (found !== undefined || n === WIND_UP_LOOKS) return found;
      this.deps.nudge?.();
      await new Promise((resolve) => setTimeout(resolve, WIND_UP_LOOK_EVERY_MS));
    }
  }

  async get(namespace: string, id: string): Promise<Rollout> {
    const found = await this.deps.rollouts.get(namespace, id);
    if (!found) throw new FleetResourceNotFoundError(`id: rollout "${id}" does not exist in namespace "${namespace}"`);
    return found;
  }

  /** Resolves at this process's next rollout decision, or after `ms` (RolloutDecisions.nextDecision). */
  nextDecision(ms: number): Promise<void> {
    return this.deps.decisions.nextDecision(ms);
  }

  list(namespace: string, query: { limit: number; before?: string; group?: string }): Promise<Rollout[]> {
    return this.deps.rollouts.list(namespace, query);
  }

  pause(namespace: string, id: string, requestedBy: string, reason: string): Promise<Rollout> {
    return this.operate(namespace, id, { verb: "pause", kind: "rollout_paused" }, [RolloutState.RUNNING], requestedBy, (r) => {
      r.state = RolloutState.PAUSED;
      r.reason = reason || `paused by ${requestedBy}`;
    });
  }

  /** Runs the current stage's gate afresh: its clock restarts, its failures are forgotten (its agents keep what they have). */
  resume(namespace: string, id: string, requestedBy: string, reason: string): Promise<Rollout> {
    return this.operate(namespace, id, { verb: "resume", kind: "rollout_resumed" }, [RolloutState.PAUSED], requestedBy, (r) => {
      r.state = RolloutState.RUNNING;
      r.reason = reason || `resumed by ${requestedBy}`;
      const stage = r.stages[r.currentStage]!;
      if (stage.state !== RolloutStageState.PENDING) {
        stage.state = RolloutStageState.APPLYING;
        stage.startedAt = timestampFromMs(this.now());
        delete stage.bakingSince;
        delete stage.finishedAt;
        stage.failures = [];
      }
    });
  }

  abort(namespace: string, id: string, requestedBy: string, reason: string): Promise<Rollout> {
    return this.operate(namespace, id, { verb: "abort", kind: "rollout_aborted" }, [RolloutState.RUNNING, RolloutState.PAUSED], requestedBy, (r) => {
      r.state = RolloutState.ABORTED;
      r.reason = reason || `aborted by ${requestedBy}`;
    });
  }

  rollback(namespace: string, id: string, requestedBy: string, reason: string): Promise<Rollout> {
    return this.operate(namespace, id, { verb: "roll back", kind: "rollout_rolling_back" }, [RolloutState.RUNNING, RolloutState.PAUSED], requestedBy, (r) => {
      r.state = RolloutState.ROLLING_BACK;
      r.reason = reason || `rolled back by ${requestedBy}`;
    });
  }

  /** An admin's decision, retried when the driver decided first (it is applied to the newest state). */
  private async operate(namespace: string, id: string, { verb, kind }: { verb: string; kind: string }, from: RolloutState[], requestedBy: string, change: (r: Rollout) => void): Promise<Rollout> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const current = await this.get(namespace, id);
      if (!from.includes(current.state)) {
        throw new FleetResourceInUseError(`id: rollout ${id} is ${RolloutState[current.state]!.toLowerCase()}; only a ${from.map((s) => RolloutState[s]!.toLowerCase()).join(" or ")} rollout can ${verb}`);
      }
      const next = await this.deps.decisions.decide(current, change, { kind, requestedBy, detail: "" });
      if (next) {
        this.deps.nudge?.();
        return next;
      }
    }
    throw new FleetResourceInUseError(`id: rollout ${id} kept changing while ${verb} was tried; try again`);
  }
}
