import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it, onTestFinished } from "vitest";
import { AgentSchema, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { ConfigurationSchema, ConfigurationVersionSchema, GroupSchema } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { silentLogger } from "@fleetplane/platform";
import { openEmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { createLmdbConfigurationRepository, createLmdbGroupRepository } from "../adapters/lmdb-fleet-repositories.js";
import { assignConfiguration, assignmentUpToDate, markOwnConfig, pinVersion } from "../agents/config-assignment.js";
import { groupTargetOf, uidOf } from "../rollouts/group-agents.js";
import { agentSelectorKeys } from "./agent-selector-keys.js";
import { configOf, GroupCatalog } from "./group-catalog.js";
import { chooseGroup } from "./group-precedence.js";
import { Groups } from "./groups.js";

const NS = "ns";
const files = (text: string) => ({ "": { body: new TextEncoder().encode(text), contentType: "" } });

/**
 * Groups over the real group and configuration stores and catalog; agents
 * in memory, re-assigned by the real assignment rule (what AdminCommands.reassign
 * applies), with every namespace pass and every agent re-checked counted.
 */
async function setup() {
  const store = openEmbeddedStore(mkdtempSync(join(tmpdir(), "fleetplane-groups-")));
  onTestFinished(() => store.close());
  const groupRepo = createLmdbGroupRepository(store);
  const configurations = createLmdbConfigurationRepository(store);
  await configurations.create(create(ConfigurationSchema, { namespace: NS, name: "cfg", latestVersion: 1 }), create(ConfigurationVersionSchema, { namespace: NS, configuration: "cfg", version: 1, files: files("v1\n") }));
  await configurations.addVersion(create(ConfigurationSchema, { namespace: NS, name: "cfg", latestVersion: 1 }), create(ConfigurationVersionSchema, { namespace: NS, configuration: "cfg", version: 2, files: files("v2\n") }));
  const catalog = new GroupCatalog({ groups: groupRepo, configurations, packages: { get: async () => undefined }, logger: silentLogger() });
  const agents = new Map<string, Agent>();
  const counts = { namespacePasses: 0, rechecked: [] as string[] };
  const groups = new Groups({
    groups: groupRepo,
    catalog,
    configurations: {} as never,
    packages: { get: async () => undefined },
    agents: {
      listUids: async (q) => {
        counts.namespacePasses++;
        return [...agents.values()].filter((a) => !q.where || q.where(a)).map(uidOf).sort();
      },
    },
    status: { statuses: async () => [] },
    reassign: async (uid, snapshot) => {
      counts.rechecked.push(uid);
      const a = agents.get(uid)!;
      return assignConfiguration(a, chooseGroup(snapshot.groups, agentSelectorKeys(a)), { now: 0, commandId: () => "c", requestedBy: () => "g" }).changed;
    },
    rolloutUnderWay: async () => undefined,
    requireNamespace: async () => {},
    audit: { recordChange: async () => {} } as never,
    logger: silentLogger(),
  });
  /** Whether every agent already has what the namespace's groups, as stored now, say (what a namespace pass would leave). */
  const allUpToDate = async () => {
    const snapshot = await catalog.snapshot(NS, { fresh: true });
    return [...agents.values()].filter((a) => !assignmentUpToDate(a, chooseGroup(snapshot.groups, agentSelectorKeys(a)))).map(uidOf);
  };
  return { groupRepo, groups, catalog, agents, counts, allUpToDate };
}

/** A pin as a rollout sets it. */
function pin(a: Agent, version: number, rollout: string) {
  const { config, hash } = configOf(files(`v${version}\n`));
  pinVersion(a, { group: "g", configuration: "cfg", version, rollout, config, hash }, { now: 0, commandId: () => "c", requestedBy: "rollout" });
}

describe("a rollout's marks on its group", () => {
  it("at a rollout's start re-check only the group's agents pinned under another rollout, and leave every agent as a namespace pass would", async () => {
    const t = await setup();
    // Group g at v1, its last rollout r0 over: left behind, agents r0 pinned at v1 (rolled back) and at v2 (moved before an abort).
    await t.groupRepo.create(create(GroupSchema, { namespace: NS, name: "g", configuration: "cfg", configurationVersion: 1, rollout: "r0", rolloutRunning: false }));
    const snapshot = await t.catalog.snapshot(NS);
    const agent = (n: number) => {
      const a = create(AgentSchema, { metadata: { instanceUid: new Uint8Array(16).fill(n), namespace: NS } });
      assignConfiguration(a, chooseGroup(snapshot.groups, agentSelectorKeys(a)), { now: 0, commandId: () => "c", requestedBy: () => "g" });
      t.agents.set(uidOf(a), a);
      return a;
    };
    const [unpinned, rolledBack, held, own] = [agent(1), agent(2), agent(3), agent(4)];
    pin(rolledBack!, 1, "r0");
    pin(held!, 2, "r0");
    markOwnConfig(own!);
    expect(await t.allUpToDate()).toEqual([]);
    // What rollout r1's driver read before its start pinned the held agent under r1 (begin).
    const targets = [...t.agents.values()].map(groupTargetOf);
    pin(held!, 2, "r1");

    const { agentsMoved } = await t.groups.markRollout(NS, "g", { rollout: "r1", running: true }, "rollout r1", targets);
    expect(t.counts.namespacePasses).toBe(0);
    expect(t.counts.rechecked.sort()).toEqual([uidOf(rolledBack!), uidOf(held!)].sort());
    expect(agentsMoved).toBe(1);
    // Exactly what a pass over the namespace would have left: nobody stale, the rolled-back pin dropped (same files), the hold kept.
    expect(await t.allUpToDate()).toEqual([]);
    expect(rolledBack!.spec!.assignment).toMatchObject({ version: 1, rollout: "" });
    expect(held!.spec!.assignment).toMatchObject({ version: 2, rollout: "r1" });
    expect(unpinned!.spec!.assignment).toMatchObject({ version: 1, rollout: "" });

    // Its end without a new version (aborted) changes no agent: none re-checked.
    t.counts.rechecked.length = 0;
    await t.groups.markRollout(NS, "g", { rollout: "r1", running: false }, "rollout r1");
    expect([t.counts.namespacePasses, t.counts.rechecked]).toEqual([0, []]);
    expect(await t.allUpToDate()).toEqual([]);
  });

  it("pass over the namespace when the caller has no targets, and when the version moves", async () => {
    const t = await setup();
    await t.groupRepo.create(create(GroupSchema, { namespace: NS, name: "g", configuration: "cfg", configurationVersion: 1 }));
    await t.groups.markRollout(NS, "g", { rollout: "r1", running: true }, "rollout r1");
    expect(t.counts.namespacePasses).toBe(1);
    await t.groups.markRollout(NS, "g", { rollout: "r1", running: false, version: 2 }, "rollout r1", []);
    expect(t.counts.namespacePasses).toBe(2);
  });
});
