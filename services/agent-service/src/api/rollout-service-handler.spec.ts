import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { RolloutSchema, RolloutState } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { WatchRolloutsRequestSchema } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_service_pb";
import { silentLogger } from "@fleetplane/platform";
import { openEmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { describe, expect, it, onTestFinished } from "vitest";
import { createLmdbRolloutRepository } from "../adapters/lmdb-rollout-repositories.js";
import type { CommandAuditPort } from "../agents/command-audit-port.js";
import { RolloutDecisions } from "../rollouts/rollout-decisions.js";
import { Rollouts } from "../rollouts/rollouts.js";
import { createRolloutServiceImpl } from "./rollout-service-handler.js";

describe("WatchRollouts", () => {
  it("sends a decision taken in this process at once, not at its next read of the store", async () => {
    const store = openEmbeddedStore(mkdtempSync(join(tmpdir(), "fleetplane-watch-")));
    onTestFinished(() => store.close());
    const repo = createLmdbRolloutRepository(store);
    const decisions = new RolloutDecisions({ rollouts: repo, audit: { recordChange: async () => {} } as unknown as CommandAuditPort, replicaId: "a", now: Date.now });
    const rollouts = new Rollouts({ rollouts: repo, decisions, groups: {} as never, configurations: {} as never, agents: {} as never });
    await repo.create(create(RolloutSchema, { namespace: "default", id: "r1", group: "g", state: RolloutState.RUNNING, sequence: 1n }));
    // An interval no test waits for: only the nudge can bring the second message in time.
    const impl = createRolloutServiceImpl(rollouts, silentLogger(), { watchIntervalMs: 600_000 });
    const abort = new AbortController();
    onTestFinished(() => abort.abort());
    const stream = impl.watchRollouts!(create(WatchRolloutsRequestSchema, { id: "r1" }), { signal: abort.signal } as HandlerContext)[Symbol.asyncIterator]();
    expect((await stream.next()).value).toMatchObject({ rollout: { sequence: 1n } });
    const next = stream.next();
    await rollouts.pause("default", "r1", "admin", "");
    const seen = await Promise.race([next, new Promise((resolve) => setTimeout(() => resolve("not within 5 s"), 5_000))]);
    expect(seen).toMatchObject({ value: { rollout: { sequence: 2n, state: RolloutState.PAUSED } } });
  });
});
