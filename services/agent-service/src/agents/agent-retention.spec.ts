import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AgentSchema, CommandKind, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { instanceUidToHex, silentLogger, type PushBus } from "@fleetplane/platform";
import { randomBytes } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { AdminCommands, type AgentRemovalReason } from "./admin-commands.js";
import type { AgentRepository, DisconnectedQuery } from "./agent-repository.js";
import { AgentRetention, RETENTION_REQUESTER, sweepIntervalMs } from "./agent-retention.js";
import type { AuditedCommand, CommandAuditPort } from "./command-audit-port.js";
import type { CommandTransition } from "./agent-model.js";
import { temporaryAgentStore } from "./temporary-agent-store.js";

const NOW = 1_767_225_600_000;
const DAY = 86_400_000;

/** Retention of one day over the embedded store, with what the audit trail and the removals metric are told. */
function setup(o: { pageSize?: number; wrap?: (repository: AgentRepository) => AgentRepository; retentionMs?: number; now?: () => number } = {}) {
  const records: AuditedCommand[] = [];
  const transitions: Array<{ uid: string; transition: CommandTransition }> = [];
  const audit: CommandAuditPort = {
    async record(record) {
      records.push(record);
    },
    async transition(uid, transition) {
      transitions.push({ uid, transition });
    },
    async recordChange() {},
    async recent() {
      return { records: [], complete: true };
    },
  };
  const push: PushBus = { publish: async () => true, subscribe: async () => ({ unsubscribe: async () => {} }), close: async () => {} };
  const { store, repository } = temporaryAgentStore({ audit, ...(o.wrap ? { wrap: o.wrap } : {}) });
  const removed: AgentRemovalReason[] = [];
  const commands = new AdminCommands({ store, audit, push, removed: (reason) => removed.push(reason) });
  const retention = new AgentRetention({
    store,
    commands,
    retentionMs: o.retentionMs ?? DAY,
    logger: silentLogger(),
    now: o.now ?? (() => NOW),
    ...(o.pageSize ? { pageSize: o.pageSize } : {}),
  });
  return { repository, store, retention, records, transitions, removed };
}

function agent(o: { connected?: boolean; disconnectedAt?: number; createdAt?: number; pendingCommand?: string }): Agent {
  return create(AgentSchema, {
    metadata: { instanceUid: new Uint8Array(randomBytes(16)), ...(o.createdAt !== undefined ? { createdAt: timestampFromMs(o.createdAt) } : {}) },
    status: { connected: o.connected ?? false, ...(o.disconnectedAt !== undefined ? { disconnectedAt: timestampFromMs(o.disconnectedAt) } : {}) },
    commands: o.pendingCommand ? [{ id: o.pendingCommand, kind: CommandKind.RESTART }] : [],
  });
}

const uidOf = (a: Agent) => instanceUidToHex(a.metadata!.instanceUid);

async function saveAll(repository: AgentRepository, agents: Agent[]): Promise<string[]> {
  for (const a of agents) await repository.save(a);
  return agents.map(uidOf);
}

describe("agent retention", () => {
  it("removes agents disconnected longer than the retention as DeleteAgent does, and keeps connected and recent ones", async () => {
    const t = setup();
    const [old, neverConnected] = await saveAll(t.repository, [
      agent({ disconnectedAt: NOW - 2 * DAY, pendingCommand: "cmd-1" }),
      agent({ createdAt: NOW - 3 * DAY }),
    ]);
    const kept = await saveAll(t.repository, [
      agent({ disconnectedAt: NOW - DAY / 2 }),
      agent({ connected: true, disconnectedAt: NOW - 5 * DAY }), // disconnected once, connected again since
      agent({ createdAt: NOW - DAY / 2 }),
    ]);

    expect(await t.retention.sweep()).toBe(2);

    for (const uid of [old!, neverConnected!]) expect(await t.repository.get(uid)).toBeUndefined();
    for (const uid of kept) expect(await t.repository.get(uid)).toBeDefined();
    expect(t.records.map((r) => [r.instanceUid, r.kind, r.requestedBy, r.done]).sort()).toEqual(
      [[old, "agent_deleted", RETENTION_REQUESTER, true], [neverConnected, "agent_deleted", RETENTION_REQUESTER, true]].sort(),
    );
    expect(t.transitions).toEqual([{ uid: old, transition: { commandId: "cmd-1", to: "superseded", detail: "the agent was deleted" } }]);
    expect(t.removed).toEqual(["retention", "retention"]);
    expect(await t.retention.sweep()).toBe(0);
  });

  it("works through the store a page at a time, never asking for more than a page", async () => {
    const asked: DisconnectedQuery[] = [];
    const t = setup({
      pageSize: 3,
      wrap: (repository) => ({
        ...repository,
        listDisconnected: (query) => (asked.push(query), repository.listDisconnected(query)),
      }),
    });
    const old = await saveAll(t.repository, Array.from({ length: 10 }, (_, i) => agent({ disconnectedAt: NOW - 2 * DAY + i })));

    expect(await t.retention.sweep()).toBe(10);
    expect(asked.map((q) => q.limit)).toEqual([3, 3, 3, 3]);
    for (const uid of old) expect(await t.repository.get(uid)).toBeUndefined();
    expect(await t.store.countStored()).toBe(0);
  });

  it("keeps an agent that reconnected after the sweep listed it, and goes on past it", async () => {
    const t = setup({
      pageSize: 1,
      wrap: (repository) => ({
        ...repository,
        async listDisconnected(query) {
          const page = await repository.listDisconnected(query);
          // The first agent listed reconnects before the sweep gets to it.
          if (!query.after && page[0]) {
            page[0].status!.connected = true;
            await repository.save(page[0]);
          }
          return page;
        },
      }),
    });
    const [reconnects, old] = await saveAll(t.repository, [agent({ disconnectedAt: NOW - 3 * DAY }), agent({ disconnectedAt: NOW - 2 * DAY })]);

    expect(await t.retention.sweep()).toBe(1);
    expect((await t.repository.get(reconnects!))?.status?.connected).toBe(true);
    expect(await t.repository.get(old!)).toBeUndefined();
    expect(t.records.map((r) => r.instanceUid)).toEqual([old]);
  });

  it("counts an agent another replica removed first as neither removed nor failed", async () => {
    const t = setup({
      wrap: (repository) => ({
        ...repository,
        async listDisconnected(query) {
          const page = await repository.listDisconnected(query);
          for (const a of page) await repository.delete(await repository.get(uidOf(a)).then((x) => x!)); // the other replica
          return page;
        },
      }),
    });
    await saveAll(t.repository, [agent({ disconnectedAt: NOW - 2 * DAY })]);
    expect(await t.retention.sweep()).toBe(0);
    expect(t.records).toEqual([]);
  });

  it("sweeps soon after start and then on its interval, until stopped", async () => {
    let now = NOW;
    const t = setup({ retentionMs: 1_000, now: () => now });
    const [first] = await saveAll(t.repository, [agent({ disconnectedAt: NOW - 5_000 })]);
    t.retention.start();
    await vi.waitFor(async () => expect(await t.repository.get(first!)).toBeUndefined(), { timeout: 5_000, interval: 50 });

    const [second] = await saveAll(t.repository, [agent({ disconnectedAt: NOW })]);
    now = NOW + 2_000;
    await vi.waitFor(async () => expect(await t.repository.get(second!)).toBeUndefined(), { timeout: 5_000, interval: 50 });
    await t.retention.stop();
  });

  it("sweeps a quarter of the retention apart, between a second and five minutes", () => {
    expect(sweepIntervalMs(2_000)).toBe(1_000);
    expect(sweepIntervalMs(8 * 60_000)).toBe(2 * 60_000);
    expect(sweepIntervalMs(30 * DAY)).toBe(5 * 60_000);
  });

  it("never sweeps with a retention of 0", async () => {
    const asked: DisconnectedQuery[] = [];
    const t = setup({ retentionMs: 0, wrap: (repository) => ({ ...repository, listDisconnected: (q) => (asked.push(q), repository.listDisconnected(q)) }) });
    vi.useFakeTimers();
    try {
      t.retention.start();
      await vi.advanceTimersByTimeAsync(60 * 60_000);
    } finally {
      vi.useRealTimers();
    }
    expect(asked).toEqual([]);
    await t.retention.stop();
  });
});
