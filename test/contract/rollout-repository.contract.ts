import { clone, create } from "@bufbuild/protobuf";
import { AgentSchema } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { RolloutSchema, RolloutState, type Rollout } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import type { AgentRepository, RolloutLeaseRepository, RolloutRepository } from "@fleetplane/agent-service";
import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

export interface RolloutStoresUnderTest {
  rollouts: RolloutRepository;
  leases: RolloutLeaseRepository;
  agents: AgentRepository;
  close(): Promise<void>;
}

let ids = 0;
/** Ids sort by creation, as the server's UUIDv7s do. */
const rollout = (o: { namespace?: string; group?: string } = {}) =>
  create(RolloutSchema, { namespace: "default", id: `r${String(++ids).padStart(6, "0")}`, group: "web", state: RolloutState.RUNNING, sequence: 1n, ...o });
/** The same rollout at another decision. */
const decided = (r: Rollout, o: { sequence: bigint; reason?: string; state?: RolloutState }) => Object.assign(clone(RolloutSchema, r), o);

/**
 * What every store of rollouts must share: a group's slot taken once,
 * each decision number stored once (the loser told), the latest decision
 * read back, listing newest first, and lease terms claimed once.
 */
export function rolloutRepositoryContract(name: string, open: () => Promise<RolloutStoresUnderTest>): void {
  describe(`${name}: rollouts`, () => {
    let s: RolloutStoresUnderTest;
    beforeEach(async () => {
      s = await open();
    });
    afterEach(async () => {
      await s?.close();
    });

    it("one rollout per group at a time: the slot is taken until released by its rollout", async () => {
      const first = rollout();
      expect(await s.rollouts.create(first)).toBe(true);
      expect(await s.rollouts.create(rollout())).toBe(false);
      expect(await s.rollouts.create(rollout({ group: "db" }))).toBe(true);
      expect(await s.rollouts.create(rollout({ namespace: "other" }))).toBe(true);
      expect((await s.rollouts.active()).map((a) => a.id).sort()).toHaveLength(3);
      await s.rollouts.release("default", "web", "someone-else");
      expect(await s.rollouts.create(rollout())).toBe(false);
      await s.rollouts.release("default", "web", first.id);
      expect(await s.rollouts.create(rollout())).toBe(true);
    });

    it("each decision number is stored once; the latest is what a read sees", async () => {
      const r = rollout();
      await s.rollouts.create(r);
      const two = decided(r, { sequence: 2n, reason: "mine" });
      const rival = decided(r, { sequence: 2n, reason: "theirs" });
      const outcomes = await Promise.all([s.rollouts.record(two), s.rollouts.record(rival)]);
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      const stored = await s.rollouts.get("default", r.id);
      expect(stored!.sequence).toBe(2n);
      expect(stored!.reason).toBe(outcomes[0] ? "mine" : "theirs");
      expect(await s.rollouts.record(decided(r, { sequence: 3n, state: RolloutState.PAUSED }))).toBe(true);
      expect((await s.rollouts.get("default", r.id))!.state).toBe(RolloutState.PAUSED);
      expect(await s.rollouts.get("other", r.id)).toBeUndefined();
    });

    it("lists a namespace's rollouts newest first, by group, in pages", async () => {
      const made: Rollout[] = [];
      for (const group of ["a", "b", "a", "c"]) {
        const r = rollout({ group });
        made.push(r);
        await s.rollouts.create(r);
        await s.rollouts.release("default", group, r.id);
      }
      expect((await s.rollouts.list("default", { limit: 10 })).map((r) => r.id)).toEqual(made.map((r) => r.id).reverse());
      expect((await s.rollouts.list("default", { limit: 10, group: "a" })).map((r) => r.id)).toEqual([made[2]!.id, made[0]!.id]);
      const page = await s.rollouts.list("default", { limit: 2 });
      expect((await s.rollouts.list("default", { limit: 2, before: page[1]!.id })).map((r) => r.id)).toEqual([made[1]!.id, made[0]!.id]);
      expect(await s.rollouts.list("elsewhere", { limit: 10 })).toEqual([]);
    });

    it("a lease term is claimed once; only its holder extends it; the latest term is read", async () => {
      expect(await s.leases.latest("r1")).toBeUndefined();
      const claims = await Promise.all(["x", "y"].map((holder) => s.leases.claim({ rolloutId: "r1", term: 1, holder, expiresAt: 1_000 })));
      expect(claims.filter(Boolean)).toHaveLength(1);
      const holder = claims[0] ? "x" : "y";
      await s.leases.renew({ rolloutId: "r1", term: 1, holder: holder === "x" ? "y" : "x", expiresAt: 9_999 });
      expect(await s.leases.latest("r1")).toEqual({ rolloutId: "r1", term: 1, holder, expiresAt: 1_000 });
      await s.leases.renew({ rolloutId: "r1", term: 1, holder, expiresAt: 2_000 });
      expect((await s.leases.latest("r1"))!.expiresAt).toBe(2_000);
      expect(await s.leases.claim({ rolloutId: "r1", term: 2, holder: "z", expiresAt: 3_000 })).toBe(true);
      expect(await s.leases.latest("r1")).toMatchObject({ term: 2, holder: "z" });
    });

    it("agents are read by instance UID (a stage's agents), in UID order, within a namespace", async () => {
      const uids: string[] = [];
      for (const ns of ["default", "default", "default", "other"]) {
        const uid = uuidv7Bytes();
        uids.push(instanceUidToHex(uid));
        await s.agents.save(create(AgentSchema, { metadata: { instanceUid: uid, namespace: ns }, revision: 0n }));
      }
      const found = await s.agents.list({ namespace: "default", instanceUids: [uids[2]!, uids[0]!, uids[3]!, "ffffffffffffffffffffffffffffffff"], limit: 10 });
      expect(found.map((a) => instanceUidToHex(a.metadata!.instanceUid))).toEqual([uids[0], uids[2]]);
      const after = await s.agents.list({ namespace: "default", instanceUids: [uids[0]!, uids[2]!], after: uids[0]!, limit: 10 });
      expect(after.map((a) => instanceUidToHex(a.metadata!.instanceUid))).toEqual([uids[2]]);
    });
  });
}
