import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AgentSchema, ConfigSource } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { openEmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { createLmdbAgentRepository } from "./lmdb-agent-repository.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** An embedded store in a temporary directory, removed after the test. */
function freshStore() {
  const dir = mkdtempSync(join(tmpdir(), "fleetplane-lmdb-index-"));
  dirs.push(dir);
  return openEmbeddedStore(dir);
}

describe("the embedded agent repository's disconnected index", () => {
  it("is built once for agents stored before it existed", async () => {
    const store = freshStore();
    const before = createLmdbAgentRepository(store);
    const agents = [1_000, 2_000, 3_000].map((at) =>
      create(AgentSchema, { metadata: { instanceUid: new Uint8Array(randomBytes(16)) }, status: { connected: false, disconnectedAt: timestampFromMs(at) } }),
    );
    for (const agent of agents) await before.save(agent);
    await before.save(create(AgentSchema, { metadata: { instanceUid: new Uint8Array(randomBytes(16)) }, status: { connected: true } }));
    // A store written before the index existed: the agents, no index, no marker.
    for (const name of ["agents-by-disconnected-since", "agents-disconnected-since", "agent-index-builds"]) await store.openDB({ name }).clearAsync();

    const after = createLmdbAgentRepository(store);
    const listed = await after.listDisconnected({ before: 2_500, limit: 10 });
    expect(listed.map((a) => a.status!.disconnectedAt!.seconds)).toEqual([1n, 2n]);
    expect(await after.listDisconnected({ before: 10_000, limit: 10 })).toHaveLength(3);
    await store.close();
  });
});

describe("the embedded agent repository's index build", () => {
  it("is not needed for a store created empty: it is marked built at once, and saves keep every index", async () => {
    const store = freshStore();
    const repository = createLmdbAgentRepository(store);
    const saved = [1_000, 2_000].map((at) =>
      create(AgentSchema, { metadata: { instanceUid: new Uint8Array(randomBytes(16)) }, status: { connected: false, disconnectedAt: timestampFromMs(at) } }),
    );
    for (const agent of saved) await repository.save(agent);
    // Marked before any reader asked for an index (a build would mark it only then, after decoding every agent).
    expect(store.openDB({ name: "agent-index-builds" }).getKeysCount()).toBe(1);
    expect(await repository.listDisconnected({ before: 10_000, limit: 10 })).toHaveLength(2);
    expect(await repository.countByNamespace()).toEqual(new Map([["default", 2]]));
    await store.close();
  });
});

describe("the embedded agent repository's group-target index", () => {
  it("is built once for agents stored before it existed, and kept by saves without a second build", async () => {
    const store = freshStore();
    const before = createLmdbAgentRepository(store);
    const agent = (group: string) =>
      create(AgentSchema, { metadata: { instanceUid: new Uint8Array(randomBytes(16)) }, spec: { assignment: { source: ConfigSource.GROUP, group, configuration: "c", version: 1 } } });
    const old = [agent("g"), agent("g"), agent("h")];
    for (const a of old) await before.save(a);
    // A store written before the table existed: the agents, an older marker, no group-target entries.
    for (const name of ["agents-by-group-target", "agents-group-target-of"]) await store.openDB({ name }).clearAsync();
    await store.openDB({ name: "agent-index-builds" }).clearAsync();
    await store.openDB<true, string>({ name: "agent-index-builds" }).put("disconnected-since+namespaces", true);

    const after = createLmdbAgentRepository(store);
    const uidOf = (a: (typeof old)[number]) => Buffer.from(a.metadata!.instanceUid).toString("hex");
    expect((await after.listGroupTargets("default", "g", { limit: 10 })).map((t) => t.uid)).toEqual([uidOf(old[0]!), uidOf(old[1]!)].sort());
    const joined = agent("g");
    await after.save(joined);
    expect(await after.listGroupTargets("default", "g", { limit: 10 })).toHaveLength(3);
    await store.close();
  });
});

