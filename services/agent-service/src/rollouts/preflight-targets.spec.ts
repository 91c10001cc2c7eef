import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { AgentSchema, ConfigSource, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { ComponentDetailsSchema } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { openEmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { AgentQuery } from "../agents/agent-repository.js";
import { createLmdbAgentRepository } from "../adapters/lmdb-agent-repository.js";
import { preflightTargets, uidOf } from "./group-agents.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** An agent of group "g" (or its own configuration) that reported `components` under `hash`. */
function agent(n: number, o: { hash?: number[]; receivers?: string[]; own?: boolean } = {}): Agent {
  const map: Record<string, MessageInitShape<typeof ComponentDetailsSchema>> = o.receivers ? { receivers: { metadata: [], subComponentMap: Object.fromEntries(o.receivers.map((t) => [t, { metadata: [], subComponentMap: {} }])) } } : {};
  return create(AgentSchema, {
    metadata: { instanceUid: new Uint8Array(16).fill(n) },
    spec: { assignment: { source: o.own ? ConfigSource.AGENT : ConfigSource.GROUP, group: "g", configuration: "c", version: 1 } },
    status: o.hash || o.receivers ? { availableComponents: { hash: new Uint8Array(o.hash ?? []), components: map } } : {},
  });
}

describe("a preflight's targets", () => {
  it("reads the components of one agent per distinct set, and never judges an agent by another's set under the same hash", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleetplane-preflight-"));
    dirs.push(dir);
    const store = openEmbeddedStore(dir);
    const agents = createLmdbAgentRepository(store);
    // Four agents with the same components (under hashes of their own), one whose hash is theirs but not its components.
    const same = [1, 2, 3, 4].map((n) => agent(n, { hash: [n], receivers: ["otlp"] }));
    const other = agent(5, { hash: [1], receivers: ["otlp", "filelog"] });
    const unnamed = agent(6, { receivers: ["nop"] });
    const silent = agent(7);
    const hashOnly = agent(8, { hash: [9] });
    for (const a of [...same, other, unnamed, silent, hashOnly, agent(9, { own: true, hash: [7], receivers: ["otlp"] })]) await agents.save(a);

    const read: string[][] = [];
    const lister = {
      listGroupTargets: agents.listGroupTargets.bind(agents),
      list: (q: AgentQuery) => (read.push([...(q.instanceUids ?? ["(scan)"])]), agents.list(q)),
    };
    const targets = await preflightTargets(lister, "default", "g");
    const sets = new Map(targets.map((t) => [t.uid, t.available ? [...t.available].sort() : undefined]));
    expect([...sets.keys()]).toEqual([...same, other, unnamed, silent, hashOnly].map(uidOf));
    for (const a of same) expect(sets.get(uidOf(a))).toEqual(["receivers/otlp"]);
    expect(sets.get(uidOf(other))).toEqual(["receivers/filelog", "receivers/otlp"]);
    expect(sets.get(uidOf(unnamed))).toEqual(["receivers/nop"]);
    expect(sets.get(uidOf(silent))).toBeUndefined();
    expect(sets.get(uidOf(hashOnly))).toBeUndefined();
    // One agent of each distinct set: never the four with the same components, nor a scan.
    expect(read.flat().sort()).toEqual([uidOf(same[0]!), uidOf(other), uidOf(unnamed)].sort());
    await store.close();
  });

  it("reads whole every agent of a hash whose read agent no longer carries it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleetplane-preflight-"));
    dirs.push(dir);
    const store = openEmbeddedStore(dir);
    const agents = createLmdbAgentRepository(store);
    const same = [1, 2].map((n) => agent(n, { hash: [7], receivers: ["otlp"] }));
    for (const a of same) await agents.save(a);
    const listGroupTargets = agents.listGroupTargets.bind(agents);
    // Between the listing and the read, the first agent reports other components.
    const lister = {
      listGroupTargets: async (...args: Parameters<typeof listGroupTargets>) => {
        const page = await listGroupTargets(...args);
        const moved = agent(1, { hash: [8], receivers: ["nop"] });
        moved.revision = same[0]!.revision;
        await agents.save(moved);
        return page;
      },
      list: agents.list.bind(agents),
    };
    const targets = await preflightTargets(lister, "default", "g");
    expect(targets.map((t) => [t.uid, [...t.available!]])).toEqual([
      [uidOf(same[0]!), ["receivers/nop"]],
      [uidOf(same[1]!), ["receivers/otlp"]],
    ]);
    await store.close();
  });
});
