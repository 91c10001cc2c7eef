import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { AgentSchema, ConfigSource, RemoteConfigState, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { GroupSchema, LabelSelectorSchema, type Group } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { instanceUidToHex, silentLogger } from "@fleetplane/platform";
import type { AgentQuery, RevisionQuery } from "../agents/agent-repository.js";
import { GroupStatusBook } from "./group-status-book.js";
import { contributionOf } from "./group-status.js";

const group = (name: string, app: string) => create(GroupSchema, { namespace: "default", name, priority: 1, configuration: "cfg", configurationVersion: 1, selector: { matchLabels: { app } } });

function agent(n: number, o: { app: string; group?: string; state?: RemoteConfigState; connected?: boolean; namespace?: string; tiedWith?: string[] }): Agent {
  const uid = new Uint8Array(16);
  uid[15] = n;
  return create(AgentSchema, {
    metadata: { instanceUid: uid, labels: { app: o.app }, namespace: o.namespace ?? "default" },
    spec: {
      ...(o.group ? { assignment: { source: ConfigSource.GROUP, group: o.group, configuration: "cfg", version: 1, tiedWith: o.tiedWith ?? [] } } : {}),
      ...(o.state ? { remoteConfig: { data: { status: o.state } } } : {}),
    },
    status: { connected: o.connected ?? true },
  });
}

/** A fleet in memory that counts the pages read, and groups with a revision to move. */
function setup(options: { maxAgeMs?: number } = {}) {
  const fleet = new Map<string, Agent>();
  // duringPage runs while a page is read; the page comes back once the promise it returns (if any) settles.
  const state = {
    pages: 0,
    /** The agents each page of `list` read (decoded, in a store). */
    read: [] as string[][],
    revisionPages: 0,
    revision: 1,
    groups: [group("web", "web"), group("db", "db")] as Group[],
    now: 0,
    duringPage: undefined as (() => void | Promise<void>) | undefined,
  };
  const inOrder = (q: { namespace?: string; after?: string; instanceUids?: readonly string[]; limit: number }) =>
    [...fleet.entries()]
      .filter(([uid, a]) => (a.metadata?.namespace || "default") === q.namespace && (!q.instanceUids || q.instanceUids.includes(uid)))
      .sort(([a], [b]) => a.localeCompare(b))
      .filter(([uid]) => !q.after || uid > q.after)
      .slice(0, q.limit);
  const list = async (q: AgentQuery) => {
    state.pages++;
    const page = inOrder(q);
    state.read.push(page.map(([uid]) => uid));
    await state.duringPage?.();
    return page.map(([, a]) => a);
  };
  const listRevisions = async (q: RevisionQuery) => {
    state.revisionPages++;
    const page = inOrder(q).map(([uid, a]) => ({ uid, revision: a.revision }));
    await state.duringPage?.();
    return page;
  };
  const book = new GroupStatusBook({
    agents: { list, listRevisions },
    groups: async () => ({ revision: state.revision, groups: state.groups }),
    logger: silentLogger(),
    now: () => state.now,
    ...(options.maxAgeMs !== undefined ? { maxAgeMs: options.maxAgeMs } : {}),
  });
  // A store's save: the stored revision moves on.
  const put = (a: Agent) => {
    const uid = instanceUidToHex(a.metadata!.instanceUid);
    a.revision = (fleet.get(uid)?.revision ?? 0n) + 1n;
    fleet.set(uid, a);
    return a;
  };
  const status = async (name: string) => (await book.statuses("default", [state.groups.find((g) => g.name === name) ?? group(name, name)]))[0]!;
  return { fleet, state, book, put, status };
}

describe("group status counts kept per namespace", () => {
  it("counts a namespace once, then follows each stored change without reading the fleet again", async () => {
    const t = setup({ maxAgeMs: Number.POSITIVE_INFINITY });
    t.put(agent(1, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    t.put(agent(2, { app: "web", group: "web", state: RemoteConfigState.APPLYING }));
    t.put(agent(3, { app: "db", group: "db", state: RemoteConfigState.FAILED, connected: false }));
    expect(await t.status("web")).toMatchObject({ matched: 2n, assigned: 2n, connected: 2n, applied: 1n, applying: 1n });
    expect(await t.status("db")).toMatchObject({ matched: 1n, assigned: 1n, connected: 0n, failed: 1n });
    const pages = t.state.pages;

    // Agent 2 applies; agent 3 is relabelled into web's selector and takes web's config.
    t.book.agentChanged(agent(2, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    t.book.agentChanged(agent(3, { app: "web", group: "web", state: RemoteConfigState.APPLYING }));
    expect(await t.status("web")).toMatchObject({ matched: 3n, assigned: 3n, connected: 3n, applied: 2n, applying: 1n, failed: 0n });
    expect(await t.status("db")).toMatchObject({ matched: 0n, assigned: 0n, failed: 0n });
    // A new agent, then a removal.
    t.book.agentChanged(agent(4, { app: "db", group: "db", state: RemoteConfigState.APPLIED }));
    t.book.agentRemoved(instanceUidToHex(agent(1, { app: "web" }).metadata!.instanceUid));
    expect(await t.status("web")).toMatchObject({ matched: 2n, assigned: 2n, applied: 1n });
    expect(await t.status("db")).toMatchObject({ matched: 1n, assigned: 1n, applied: 1n });
    expect(t.state.pages).toBe(pages);
  });

  it("shows a tie on both groups while an agent carries it, and drops it when none does", async () => {
    const t = setup({ maxAgeMs: Number.POSITIVE_INFINITY });
    t.put(agent(1, { app: "web", group: "web", tiedWith: ["db"] }));
    expect((await t.status("web")).tiedWith).toEqual(["db"]);
    expect((await t.status("db")).tiedWith).toEqual(["web"]);
    t.book.agentChanged(agent(1, { app: "web", group: "web" }));
    expect((await t.status("web")).tiedWith).toEqual([]);
    expect((await t.status("db")).tiedWith).toEqual([]);
  });

  it("counts again when the namespace's groups revision moves (a group changed on any replica)", async () => {
    const t = setup({ maxAgeMs: Number.POSITIVE_INFINITY });
    t.put(agent(1, { app: "web", group: "web" }));
    t.put(agent(2, { app: "db", group: "db" }));
    expect((await t.status("web")).matched).toBe(1n);
    const pages = t.state.pages;
    const web = group("web", "web");
    web.selector = create(LabelSelectorSchema, { matchExpressions: [{ key: "app", operator: "Exists" }] });
    t.state.groups = [web, group("db", "db")];
    t.state.revision++;
    expect((await t.status("web")).matched).toBe(2n);
    expect(t.state.pages).toBe(pages + 1);
  });

  it("does not count again when the groups changed in nothing the counts depend on (a version, a rollout's marks)", async () => {
    const t = setup({ maxAgeMs: Number.POSITIVE_INFINITY });
    t.put(agent(1, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    expect((await t.status("web")).applied).toBe(1n);
    const pages = t.state.pages;
    const web = group("web", "web");
    web.configurationVersion = 2;
    web.rollout = "r1";
    web.rolloutRunning = true;
    t.state.groups = [web, group("db", "db")];
    t.state.revision++;
    expect((await t.status("web")).applied).toBe(1n);
    expect(t.state.pages).toBe(pages);
    // The book follows the new revision: a change stored now is counted, and the next read passes nothing.
    t.book.agentChanged(agent(2, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    expect((await t.status("web")).applied).toBe(2n);
    // A new priority decides winners anew: counted again.
    const first = group("web", "web");
    first.priority = 7;
    t.state.groups = [first, group("db", "db")];
    t.state.revision++;
    await t.status("web");
    expect(t.state.pages).toBe(pages + 1);
  });

  it("counts again once older than maxAgeMs (what other replicas stored), and never with Infinity", async () => {
    const t = setup({ maxAgeMs: 5_000 });
    t.put(agent(1, { app: "web", group: "web", state: RemoteConfigState.APPLYING }));
    expect((await t.status("web")).applying).toBe(1n);
    // Another replica stores the agent's APPLIED: unseen here until a recount.
    t.put(agent(1, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    t.state.now = 5_000;
    expect((await t.status("web")).applied).toBe(0n);
    t.state.now = 5_001;
    expect((await t.status("web")).applied).toBe(1n);

    const alone = setup({ maxAgeMs: Number.POSITIVE_INFINITY });
    alone.put(agent(1, { app: "web", group: "web" }));
    await alone.status("web");
    alone.state.now = 1e12;
    await alone.status("web");
    expect(alone.state.pages).toBe(1);
  });

  it("brings old counts up to date by reading the namespace's revisions and only the agents whose revision moved", async () => {
    const t = setup({ maxAgeMs: 5_000 });
    for (let n = 1; n <= 4; n++) t.put(agent(n, { app: "web", group: "web", state: RemoteConfigState.APPLYING }));
    t.put(agent(9, { app: "web", group: "web", namespace: "other" }));
    expect(await t.status("web")).toMatchObject({ matched: 4n, assigned: 4n, applying: 4n });
    const uid = (n: number) => instanceUidToHex(agent(n, { app: "web" }).metadata!.instanceUid);
    // Another replica stores agent 1 APPLIED and agent 2 in group db; agent 3 is deleted; agent 5 is new.
    t.put(agent(1, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    t.put(agent(2, { app: "db", group: "db" }));
    t.fleet.delete(uid(3));
    t.put(agent(5, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    t.state.read = [];
    t.state.now = 5_001;
    expect(await t.status("web")).toMatchObject({ matched: 3n, assigned: 3n, applied: 2n, applying: 1n });
    expect(await t.status("db")).toMatchObject({ matched: 1n, assigned: 1n });
    expect(t.state.read).toEqual([[uid(1), uid(2), uid(5)]]);
    // Nothing moved since: the next pass reads revisions only.
    t.state.now = 10_002;
    const revisionPages = t.state.revisionPages;
    expect(await t.status("web")).toMatchObject({ assigned: 3n, applied: 2n });
    expect(t.state.revisionPages).toBe(revisionPages + 1);
    expect(t.state.read).toHaveLength(1);
  });

  it("forgets an agent deleted between the read of the revisions and the read of the agents that moved", async () => {
    const t = setup({ maxAgeMs: 5_000 });
    for (let n = 1; n <= 2; n++) t.put(agent(n, { app: "web", group: "web", state: RemoteConfigState.APPLYING }));
    expect(await t.status("web")).toMatchObject({ matched: 2n, applying: 2n });
    const uid = (n: number) => instanceUidToHex(agent(n, { app: "web" }).metadata!.instanceUid);
    // Agent 1 moves (another replica's save), then is deleted once its new revision has been read.
    t.put(agent(1, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    t.state.duringPage = () => {
      t.state.duringPage = undefined;
      t.fleet.delete(uid(1));
    };
    t.state.now = 5_001;
    expect(await t.status("web")).toMatchObject({ matched: 1n, assigned: 1n, applying: 1n, applied: 0n });
  });

  it("keeps what changes fold in while counts are brought up to date, and reads that come meanwhile wait for the same pass", async () => {
    const t = setup({ maxAgeMs: 5_000 });
    for (let n = 1; n <= 3; n++) t.put(agent(n, { app: "web", group: "web", state: RemoteConfigState.APPLYING }));
    expect((await t.status("web")).applying).toBe(3n);
    const uid = (n: number) => instanceUidToHex(agent(n, { app: "web" }).metadata!.instanceUid);
    // Another replica stores agent 1 APPLIED and deletes agent 2; while the revisions are read, this
    // replica stores agent 1 FAILED (newer), stores a new agent 7 and removes agent 3.
    t.put(agent(1, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    t.fleet.delete(uid(2));
    let during: Promise<unknown> | undefined;
    t.state.duringPage = () => {
      t.state.duringPage = undefined;
      t.book.agentChanged(agent(1, { app: "web", group: "web", state: RemoteConfigState.FAILED }));
      t.book.agentChanged(agent(7, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
      t.book.agentRemoved(uid(3));
      during = t.status("web");
    };
    t.state.now = 5_001;
    const pages = t.state.revisionPages;
    expect(await t.status("web")).toMatchObject({ assigned: 2n, failed: 1n, applied: 1n, applying: 0n });
    expect(await during).toMatchObject({ assigned: 2n, failed: 1n, applied: 1n, applying: 0n });
    expect(t.state.revisionPages).toBe(pages + 1);
  });

  it("leaves the counts as they were when bringing them up to date fails; the next read tries again", async () => {
    const t = setup({ maxAgeMs: 5_000 });
    t.put(agent(1, { app: "web", group: "web", state: RemoteConfigState.APPLYING }));
    expect((await t.status("web")).applying).toBe(1n);
    t.put(agent(1, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    t.state.now = 5_001;
    t.state.duringPage = () => {
      t.state.duringPage = undefined;
      throw new Error("store unavailable");
    };
    await expect(t.status("web")).rejects.toThrow("store unavailable");
    expect(await t.status("web")).toMatchObject({ assigned: 1n, applied: 1n, applying: 0n });
  });

  it("loses no change stored while a count is under way, and counts no agent twice", async () => {
    const t = setup({ maxAgeMs: Number.POSITIVE_INFINITY });
    for (let n = 1; n <= 3; n++) t.put(agent(n, { app: "web", group: "web", state: RemoteConfigState.APPLYING }));
    // While the page is read: agent 1 is stored APPLIED (the page holds the older copy), agent 9 is new.
    t.state.duringPage = () => {
      t.state.duringPage = undefined;
      t.book.agentChanged(agent(1, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
      t.book.agentChanged(agent(9, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    };
    const s = await t.status("web");
    expect(s).toMatchObject({ matched: 4n, assigned: 4n, applied: 2n, applying: 2n });
  });

  it("answers a read made while a recount is under way from a whole count, never the half-done one", async () => {
    const t = setup({ maxAgeMs: 5_000 });
    for (let n = 1; n <= 3; n++) t.put(agent(n, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    expect((await t.status("web")).applied).toBe(3n);
    // The counts grow old; the recount's page read is slow, and another read comes in meanwhile.
    t.state.now = 10_000;
    let during: Promise<unknown> | undefined;
    t.state.duringPage = () => {
      t.state.duringPage = undefined;
      during = t.status("web");
      // A slow store: the page comes back after the other read has been answered (or has had every chance to be).
      return new Promise((resolve) => setTimeout(resolve, 0));
    };
    expect(await t.status("web")).toMatchObject({ assigned: 3n, applied: 3n });
    expect(await during).toMatchObject({ assigned: 3n, applied: 3n });
  });

  it("leaves nothing half counted behind when a recount fails: the read fails, the next counts whole", async () => {
    const t = setup({ maxAgeMs: 5_000 });
    t.put(agent(1, { app: "web", group: "web", state: RemoteConfigState.APPLIED }));
    expect((await t.status("web")).applied).toBe(1n);
    t.state.now = 10_000;
    t.state.duringPage = () => {
      t.state.duringPage = undefined;
      throw new Error("store unavailable");
    };
    await expect(t.status("web")).rejects.toThrow("store unavailable");
    // The next read counts again (the failed pass left nothing half done behind).
    expect(await t.status("web")).toMatchObject({ assigned: 1n, applied: 1n });
  });

  it("moves an agent's contribution when it changes namespace", async () => {
    const t = setup({ maxAgeMs: Number.POSITIVE_INFINITY });
    t.put(agent(1, { app: "web", group: "web" }));
    expect((await t.status("web")).assigned).toBe(1n);
    t.book.agentChanged(agent(1, { app: "web", namespace: "other" }));
    expect((await t.status("web")).assigned).toBe(0n);
  });

  it("matches an agent's selectors again only when its description or labels are new objects", () => {
    const groups = [group("web", "web"), group("db", "db")];
    const a = agent(1, { app: "web", group: "web" });
    const first = contributionOf(a, groups);
    expect(first.matched).toEqual(["web"]);
    // Same objects: the earlier matches stand (here made up, to see they are reused).
    expect(contributionOf(a, groups, { ...first, matched: ["made-up"] }).matched).toEqual(["made-up"]);
    a.metadata!.labels = { app: "db" };
    expect(contributionOf(a, groups, { ...first, matched: ["made-up"] }).matched).toEqual(["db"]);
  });
});
