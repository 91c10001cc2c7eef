// `fleetplane rollout …` and `fleetplane preflight` as a user runs them:
// the real CLI in a child process against a standalone server with
// simulated collectors that answer each configuration they are sent.
import { RolloutStageState, RolloutState } from "@fleetplane/gen/fleetplane/fleet/v1/rollout_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { groupWithAgents, rolloutWhen, isIn } from "./suites/rollouts/rollout-fixtures.js";
import { runFleetplane } from "./support/fleetplane-cli.js";
import { startTestServer } from "./support/standalone-server.js";

type Server = Awaited<ReturnType<typeof startTestServer>>;
let t: Server;

/** `fleetplane <args>` against the test server, with its admin key. */
const fleetplane = (args: string[]) => runFleetplane(args, t);

const V1 = "receivers: { otlp: {} }\nexporters: { debug: {} }\nservice: { pipelines: { traces: { receivers: [otlp], exporters: [debug] } } }\n";
const V2 = "receivers: { otlp: {} }\nprocessors: { batch: {} }\nexporters: { debug: {} }\nservice: { pipelines: { traces: { receivers: [otlp], processors: [batch], exporters: [debug] } } }\n";
const V3_KAFKA = "receivers: { otlp: {} }\nexporters: { kafka/eu: {} }\nservice: { pipelines: { traces: { receivers: [otlp], exporters: [kafka/eu] } } }\n";
const COMPONENTS = { receivers: ["otlp"], processors: ["batch"], exporters: ["debug"] };

beforeAll(async () => {
  t = await startTestServer({ console: false });
}, 30_000);

afterAll(async () => {
  await t?.close();
});

describe("fleetplane rollout", () => {
  it("start --watch follows a rollout stage by stage to success (exit 0); status, list and --group find it", async () => {
    const { group, fleet } = await groupWithAgents(t, { prefix: "cli-roll", count: 6, texts: [V1, V2], components: COMPONENTS });
    try {
      const run = await fleetplane(["rollout", "start", "--group", group, "--to-version", "2", "--stages", "1,50%,100%", "--bake", "200ms", "--stage-timeout", "1m", "--watch"]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      const id = /^rollout (\S+) started: group \S+, \S+ v1 → v2, 3 stages$/m.exec(run.stdout)?.[1];
      expect(id, run.stdout).toBeDefined();
      // Each stage's result once, with its bar full and the time it took; the outcome last.
      expect(run.stdout).toMatch(/^ {2}stage 1\/3\s+1 agent\s+passed\s+\[#{20}\]\s+1\/1 applied, 0 failed, 0 pending\s+\(\d+\.\d s\)$/m);
      expect(run.stdout).toMatch(/^ {2}stage 2\/3\s+up to 50 %\s+passed\s+\[#{20}\]\s+2\/2 applied/m);
      expect(run.stdout).toMatch(/^ {2}stage 3\/3\s+up to 100 %\s+passed\s+\[#{20}\]\s+3\/3 applied/m);
      expect(run.stdout.trim().split("\n").at(-1)).toMatch(/^succeeded {2}6 agents applied v2(: .*)?$/);
      for (const uid of fleet.uids) expect(fleet.bodies(uid)).toEqual([V1, V2]);

      const status = await fleetplane(["rollout", "status", "--group", group]);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain(`rollout ${id}`);
      expect(status.stdout).toContain("  state succeeded");
      const json = await fleetplane(["rollout", "status", id!, "-o", "json"]);
      expect(JSON.parse(json.stdout)).toMatchObject({ id, group, state: "ROLLOUT_STATE_SUCCEEDED", toVersion: 2 });
      const list = await fleetplane(["rollout", "list", "--group", group]);
      expect(list.stdout).toMatch(new RegExp(`^${id}\\s+${group}\\s+\\S+ v1 → v2\\s+succeeded\\s+3/3`, "m"));
    } finally {
      await fleet.close();
    }
  }, 120_000);

  it("watch exits 3 when a failing canary pauses the rollout and shows why; rollback puts v1 back on the canary only, and watch exits 1", async () => {
    const { group, fleet } = await groupWithAgents(t, {
      prefix: "cli-fail",
      count: 4,
      texts: [V1, V2],
      components: COMPONENTS,
      answer: (_uid, body) => (body === V2 ? { applied: false, error: "processor batch: bad config" } : { applied: true }),
    });
    try {
      const run = await fleetplane(["rollout", "start", "--group", group, "--to-version", "2", "--stages", "1,100%", "--bake", "0", "--watch"]);
      expect(run.code).toBe(3);
      const id = /^rollout (\S+) started/m.exec(run.stdout)![1]!;
      expect(run.stdout).toMatch(/^ {2}stage 1\/2\s+1 agent\s+failed\s+/m);
      expect(run.stdout.trim().split("\n").at(-1)).toMatch(/^paused\s+stage 1\/2 .*: .+/);
      const canary = fleet.uids[0]!;

      const status = await fleetplane(["rollout", "status", id]);
      expect(status.stdout).toContain("  state paused");
      expect(status.stdout).toContain(`    ${canary}  failed: processor batch: bad config`);

      const rollback = await fleetplane(["rollout", "rollback", id, "--reason", "canary failed"]);
      expect(rollback.code).toBe(0);
      const watched = await fleetplane(["rollout", "watch", id]);
      expect(watched.code).toBe(1);
      expect(watched.stdout.trim().split("\n").at(-1)).toMatch(/^rolled back /);
      const done = await rolloutWhen(t.rollouts, id, isIn(RolloutState.ROLLED_BACK), "rolled back");
      expect(done.stages[0]!.state).toBe(RolloutStageState.FAILED);
      expect(fleet.bodies(canary)).toEqual([V1, V2, V1]);
      for (const uid of fleet.uids.slice(1)) expect(fleet.bodies(uid)).toEqual([V1]);
    } finally {
      await fleet.close();
    }
  }, 120_000);

  it("pause and resume are decisions on a running rollout; abort ends it (exit codes 0, the state shown)", async () => {
    const { group, fleet } = await groupWithAgents(t, { prefix: "cli-ops", count: 3, texts: [V1, V2], components: COMPONENTS });
    try {
      // A long bake keeps the canary's stage under way while the commands run.
      const start = await fleetplane(["rollout", "start", "--group", group, "--to-version", "2", "--stages", "1,100%", "--bake", "10m"]);
      expect(start.code).toBe(0);
      const paused = await fleetplane(["rollout", "pause", "--group", group, "--reason", "lunch"]);
      expect(paused.code).toBe(0);
      expect(paused.stdout).toContain("  state paused: lunch");
      const again = await fleetplane(["rollout", "pause", "--group", group]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^fleetplane: the admin API answered FailedPrecondition: id: rollout \S+ is paused; only a running rollout can pause/m);
      expect((await fleetplane(["rollout", "resume", "--group", group])).stdout).toMatch(/ {2}state running/);
      const aborted = await fleetplane(["rollout", "abort", "--group", group, "--reason", "enough"]);
      expect(aborted.stdout).toContain("  state aborted: enough");
    } finally {
      await fleet.close();
    }
  }, 120_000);
});

describe("fleetplane preflight", () => {
  it("lists the agents lacking a component (exit 1) and start refuses that version; a version they can run passes (exit 0)", async () => {
    const { group, fleet } = await groupWithAgents(t, { prefix: "cli-pre", count: 2, texts: [V1, V2, V3_KAFKA], components: COMPONENTS });
    try {
      const missing = await fleetplane(["preflight", "--group", group, "--version", "3"]);
      expect(missing.code).toBe(1);
      expect(missing.stdout).toContain("  components named (2): exporters/kafka, receivers/otlp\n");
      expect(missing.stdout).toContain("  missing a component: 2 agent(s)");
      for (const uid of fleet.uids) expect(missing.stdout).toContain(`    ${uid}  lacks exporters/kafka`);
      const refused = await fleetplane(["rollout", "start", "--group", group, "--to-version", "3"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^fleetplane: the admin API answered FailedPrecondition: preflight: 2 agent\(s\) lack components .*exporters\/kafka/m);

      const ok = await fleetplane(["preflight", "--group", group, "--version", "2", "-o", "json"]);
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout).passed.sort()).toEqual(fleet.uids);
    } finally {
      await fleet.close();
    }
  }, 60_000);
});

describe("bad input", () => {
  it("names the flag (exit 2) or the request field the server refused (exit 1)", async () => {
    const usage = await fleetplane(["rollout", "start", "--group", "g", "--to-version", "2", "--max-failed", "120%"]);
    expect(usage).toMatchObject({ code: 2, stderr: "fleetplane: --max-failed 120%: a share lies in 0%–100%\n" });
    expect((await fleetplane(["rollout", "pause"])).stderr).toContain("name the rollout: its id");
    expect((await fleetplane(["preflight", "--group", "g"])).stderr).toContain("--version is needed");
    const { group, fleet } = await groupWithAgents(t, { prefix: "cli-bad", count: 1, texts: [V1, V2] });
    try {
      const stages = await fleetplane(["rollout", "start", "--group", group, "--to-version", "2", "--stages", "1,50%"]);
      expect(stages.code).toBe(1);
      expect(stages.stderr).toMatch(/InvalidArgument: stages do not add up/);
      const same = await fleetplane(["rollout", "start", "--group", group, "--to-version", "1"]);
      expect(same.stderr).toMatch(/InvalidArgument: to_version: group "\S+" already runs version 1/);
    } finally {
      await fleet.close();
    }
  }, 60_000);

  it("prints help (each command's own, in-process, in rollout-command.spec.ts)", async () => {
    const top = await fleetplane(["rollout", "--help"]);
    expect(top.stdout).toMatch(/start\s+Start a rollout/);
    expect((await fleetplane(["rollout", "watch", "--help"])).stdout).toMatch(/^Usage: fleetplane rollout watch/);
    expect((await fleetplane(["preflight", "--help"])).stdout).toMatch(/^Usage: fleetplane preflight --group/);
  }, 60_000);
});
