import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandKind, RemoteConfigState, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentCapabilities } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex } from "@fleetplane/platform";
import { stopChild } from "./support/child-process.js";
import { eventually } from "./support/eventually.js";
import { startTestServer } from "./support/standalone-server.js";

/**
 * The OpenTelemetry Collector's own OpAMP code against Fleetplane: the OpAMP
 * supervisor managing a collector (tools/go/opampsupervisor), and a collector
 * with only the opamp extension (tools/go/otelcol-fleetplane). scripts/test-all.sh
 * builds both and sets FLEETPLANE_OPAMPSUPERVISOR and FLEETPLANE_OTELCOL.
 */
const supervisorBin = process.env.FLEETPLANE_OPAMPSUPERVISOR;
const collectorBin = process.env.FLEETPLANE_OTELCOL;
const available = Boolean(supervisorBin && collectorBin);
if (!available) console.warn("\n!!! FLEETPLANE_OPAMPSUPERVISOR / FLEETPLANE_OTELCOL not set (no Go toolchain?): collector interoperability tests are SKIPPED !!!\n");

const GOOD = `receivers:
  nop:
exporters:
  debug:
    verbosity: basic
service:
  pipelines:
    traces:
      receivers: [nop]
      exporters: [debug]
`;
// Names an exporter this collector does not have: the collector refuses to start.
const BAD = GOOD.replaceAll("debug", "nosuchexporter");

let t: Awaited<ReturnType<typeof startTestServer>>;
const children: ChildProcess[] = [];
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};

function start(binary: string, args: string[]): ChildProcess {
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-20_000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  Object.defineProperty(child, "recentLog", { get: () => log });
  children.push(child);
  return child;
}

/**
 * A collector's own metrics default to a fixed port, localhost:8888, and a
 * collector that cannot bind it exits at start. The supervisor's bootstrap
 * collector (the one it starts to learn the agent description, before it
 * ever connects to the OpAMP server) runs a config of the supervisor's own
 * making that keeps that default, so any other collector on the machine (an
 * earlier test's, another run's) made bootstrap fail with "collector's OpAMP
 * client never connected to the Supervisor". The supervised collectors here
 * run with their own metrics off (see writeSupervisorConfig); holding the
 * port for the whole file proves they do not need it. Taken already: the
 * same condition, made by someone else.
 */
let portHolder: Server | undefined;
const COLLECTOR_METRICS_PORT = 8888;

beforeAll(async () => {
  if (!available) return;
  portHolder = await new Promise<Server | undefined>((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(COLLECTOR_METRICS_PORT, "127.0.0.1", () => resolve(server));
  });
  t = await startTestServer();
});
afterAll(async () => {
  await new Promise<void>((resolve) => (portHolder ? portHolder.close(() => resolve()) : resolve()));
  for (const c of children) await stopChild(c, "SIGTERM", 15_000);
  // The supervisor leaves its collector to notice the orphaning by itself;
  // do not leave it behind (it would hold on to ports for the next run).
  for (const dir of dirs) spawnSync("pkill", ["-KILL", "-f", dir]);
  await t?.close();
}, 60_000);

/** A supervisor config in `dir` (its state there too), for a supervisor of the test collector; `agentExtra`: more of its `agent:` section. */
function writeSupervisorConfig(dir: string, agentExtra = ""): void {
  writeFileSync(
    join(dir, "supervisor.yaml"),
    `server:
  endpoint: ${t.wsUrl}
  headers:
    Authorization: "Bearer ${t.agentToken}"
  tls:
    insecure: true
capabilities:
  reports_effective_config: true
  reports_health: true
  accepts_remote_config: true
  reports_remote_config: true
  accepts_restart_command: true
  reports_heartbeat: true
agent:
  executable: ${collectorBin}
  # Handed to every collector the supervisor starts, its bootstrap one
  # included: no own metrics, so no fixed port (see portHolder above).
  args: ["--set=service::telemetry::metrics::level=none"]
  # The supervisor gives the collector 3 s by default to start and report to
  # it; on a busy 2-core machine a cold collector start takes longer.
  bootstrap_timeout: 30s
${agentExtra}storage:
  directory: ${join(dir, "state")}
`,
  );
}

const byName = async (serviceName: string): Promise<Agent | undefined> => {
  const { agents } = await t.agents.listAgents({ filter: { connected: true, attributes: { "service.name": serviceName } } });
  return agents[0];
};
const capable = (a: Agent, c: AgentCapabilities) => ((a.metadata?.capabilities ?? 0n) & BigInt(c)) !== 0n;
const effectiveText = (a: Agent | undefined) => new TextDecoder().decode(a?.status?.effectiveConfig?.configMap?.configMap[""]?.body ?? new Uint8Array());

// This test was skipped on 2026-11-26 as a "bootstrap race with the group's
// config in the first reply". It was two things, neither the first reply:
// the supervisor bootstraps (starts a collector on a config of its own to
// read the agent description) before it connects to any OpAMP server, and
// that collector exited at once when another collector held localhost:8888
// (see portHolder); and since ListAgents leaves configuration bodies out,
// the effective config the test looked for there was always empty.
describe.skipIf(!available)("a supervised collector in a group", () => {
  it("receives its group's configuration on joining, with no per-agent call, and runs it", async () => {
    const cfg = await t.configurations.createConfiguration({ name: "collector-group-cfg", files: { "": { body: new TextEncoder().encode(GOOD), contentType: "text/yaml" } }, message: "debug exporter" });
    expect(cfg.version?.version).toBe(1);
    await t.groups.createGroup({
      group: { name: "supervised", configuration: "collector-group-cfg", configurationVersion: 1, selector: { matchLabels: { "deployment.environment": "fleet-e2e" } } },
    });
    const dir = tempDir("fleetplane-supervisor-group-");
    writeSupervisorConfig(dir, `  description:
    non_identifying_attributes:
      deployment.environment: fleet-e2e
`);
    const supervisor = start(supervisorBin!, ["--config", join(dir, "supervisor.yaml")]);
    // The supervisor gets the group's config in the reply to its first
    // message (once bootstrapped): it restarts the collector on it and reports
    // APPLYING with the version's hash, APPLIED when its apply timer ends.
    // What matters here: the collector runs the group's config, unasked.
    // ListAgents finds it; GetAgent shows its effective config (a list never
    // carries configuration bodies, see api/configuration-secrets.ts).
    const running = await eventually(async () => {
      const { agents } = await t.agents.listAgents({ filter: { connected: true, attributes: { "deployment.environment": "fleet-e2e" } } });
      const found = agents[0];
      const a = found ? (await t.agents.getAgent({ instanceUid: instanceUidToHex(found.metadata!.instanceUid) })).agent : undefined;
      const reported = a?.status?.remoteConfigStatus;
      const sameHash = reported && Buffer.from(reported.lastRemoteConfigHash).equals(Buffer.from(a.spec!.remoteConfig!.data!.hash));
      return sameHash && /\bdebug:/.test(effectiveText(a)) ? a : undefined;
    }, 60_000, "the supervised collector running its group's config");
    expect(running.spec!.assignment).toMatchObject({ group: "supervised", configuration: "collector-group-cfg", version: 1 });
    expect(running.spec!.remoteConfig!.data!.updatedBy).toBe("group default/supervised");
    expect([RemoteConfigState.APPLYING, RemoteConfigState.APPLIED]).toContain(running.spec!.remoteConfig!.data!.status);
    const { status } = await t.groups.getGroup({ name: "supervised" });
    expect(status).toMatchObject({ matched: 1n, assigned: 1n, connected: 1n });
    // No per-agent call was made: the only config command came from the group.
    const { commands } = await t.commands.listCommands({ instanceUid: instanceUidToHex(running.metadata!.instanceUid) });
    expect(commands.filter((c) => c.kind === "remote_config").map((c) => c.requestedBy)).toEqual(["group default/supervised"]);

    // Gone before the next supervisor starts: two collectors would contend
    // for ports, and the next tests look agents up by service name.
    await stopChild(supervisor, "SIGTERM", 15_000);
    spawnSync("pkill", ["-KILL", "-f", dir]);
    await eventually(async () => (await t.agents.getAgent({ instanceUid: instanceUidToHex(running.metadata!.instanceUid) })).agent?.status?.connected === false, 30_000, "the grouped collector gone");
  }, 90_000);
});

describe.skipIf(!available)("the OpenTelemetry Collector OpAMP supervisor", () => {
  let uid: string;

  it("connects, describes the collector, and reports its health and effective config", async () => {
    const dir = tempDir("fleetplane-supervisor-");
    writeSupervisorConfig(dir);
    start(supervisorBin!, ["--config", join(dir, "supervisor.yaml")]);
    const agent = await eventually(async () => {
      const a = await byName("otelcol-fleetplane");
      return a?.status?.health?.healthy && a.status.effectiveConfig ? a : undefined;
    }, 60_000, "the supervised collector, healthy, with its effective config");
    uid = instanceUidToHex(agent.metadata!.instanceUid);
    expect(capable(agent, AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig)).toBe(true);
    expect(capable(agent, AgentCapabilities.AgentCapabilities_AcceptsRestartCommand)).toBe(true);
    expect(agent.metadata?.description?.identifyingAttributes.find((kv) => kv.key === "service.instance.id")).toBeDefined();
  }, 90_000);

  it("applies a pushed collector config: APPLIED, and the new effective config", async () => {
    await t.agents.setRemoteConfig({ instanceUid: uid, files: { "": { content: { case: "text", value: GOOD }, contentType: "text/yaml" } }, requestedBy: "e2e" });
    const applied = await eventually(async () => {
      const { agent } = await t.agents.getAgent({ instanceUid: uid });
      return agent?.spec?.remoteConfig?.data?.status === RemoteConfigState.APPLIED && /\bdebug:/.test(effectiveText(agent)) ? agent : undefined;
    }, 60_000, "APPLIED with the new effective config");
    expect(effectiveText(applied)).toMatch(/receivers:[\s\S]*nop/);
  }, 90_000);

  it("reports an invalid config as FAILED with the reason", async () => {
    await t.agents.setRemoteConfig({ instanceUid: uid, files: { "": { content: { case: "text", value: BAD }, contentType: "text/yaml" } } });
    const failed = await eventually(async () => {
      const { agent } = await t.agents.getAgent({ instanceUid: uid });
      return agent?.spec?.remoteConfig?.data?.status === RemoteConfigState.FAILED ? agent : undefined;
    }, 60_000, "FAILED");
    expect(failed.spec!.remoteConfig!.lastErrorMessage).not.toBe("");
  }, 90_000);

  it("restarts the collector on a Restart command", async () => {
    await t.agents.setRemoteConfig({ instanceUid: uid, files: { "": { content: { case: "text", value: GOOD }, contentType: "text/yaml" } } });
    const before = await eventually(async () => {
      const { agent } = await t.agents.getAgent({ instanceUid: uid });
      return agent?.spec?.remoteConfig?.data?.status === RemoteConfigState.APPLIED && agent.status?.health?.healthy ? agent : undefined;
    }, 60_000, "healthy again on the good config");
    const startedBefore = before.status!.health!.startTimeUnixNano;
    await t.agents.sendCommand({ instanceUid: uid, kind: CommandKind.RESTART, requestedBy: "e2e" });
    await eventually(async () => {
      const { agent } = await t.agents.getAgent({ instanceUid: uid });
      const h = agent?.status?.health;
      return h?.healthy && h.startTimeUnixNano > startedBefore;
    }, 60_000, "a newer collector start time");
  }, 90_000);
});

describe.skipIf(!available)("a collector with only the opamp extension (read-only agent)", () => {
  it("shows its health, effective config and available components", async () => {
    const dir = tempDir("fleetplane-collector-");
    writeFileSync(
      join(dir, "config.yaml"),
      `extensions:
  opamp:
    server:
      ws:
        endpoint: ${t.wsUrl}
        headers:
          Authorization: "Bearer ${t.agentToken}"
        tls:
          insecure: true
    instance_uid: 01936a8e-0000-7000-8000-00000000c01e
    capabilities:
      reports_effective_config: true
      reports_health: true
      reports_available_components: true
receivers:
  nop:
exporters:
  nop:
service:
  extensions: [opamp]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [nop]
      exporters: [nop]
`,
    );
    start(collectorBin!, ["--config", join(dir, "config.yaml")]);
    const agent = await eventually(async () => {
      const { agent: a } = await t.agents.getAgent({ instanceUid: "01936a8e00007000800000000000c01e" }).catch(() => ({ agent: undefined }));
      return a?.status?.health && a.status.effectiveConfig && Object.keys(a.status.availableComponents?.components ?? {}).length > 0 ? a : undefined;
    }, 60_000, "the read-only collector with health, effective config and available components");
    expect(capable(agent, AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig)).toBe(false);
    expect(effectiveText(agent)).toContain("nop");
    expect(Object.keys(agent.status!.availableComponents!.components)).toEqual(expect.arrayContaining(["receivers", "exporters", "extensions"]));
  }, 90_000);

  it("rollout preflight reads the components it reports: refuses a version naming one it lacks (naming it), passes one it has", async () => {
    const uid = "01936a8e00007000800000000000c01e";
    await t.agents.setAgentLabels({ instanceUid: uid, labels: { "rollout-preflight": "yes" } });
    const yaml = (text: string) => ({ "": { body: new TextEncoder().encode(text), contentType: "text/yaml" } });
    await t.configurations.createConfiguration({ name: "interop-preflight", files: yaml(GOOD.replaceAll("debug", "nop").replace("    verbosity: basic\n", "")), message: "nop" });
    await t.configurations.createConfigurationVersion({ name: "interop-preflight", files: yaml(GOOD.replaceAll("debug", "kafka")), message: "kafka" });
    await t.configurations.createConfigurationVersion({ name: "interop-preflight", files: yaml(GOOD), message: "debug" });
    await t.groups.createGroup({ group: { name: "interop-preflight", configuration: "interop-preflight", configurationVersion: 1, selector: { matchLabels: { "rollout-preflight": "yes" } } } });

    const lacking = await t.rollouts.preflight({ group: "interop-preflight", version: 2 });
    expect(lacking.result!.missing).toEqual([expect.objectContaining({ instanceUid: uid, missingComponents: ["exporters/kafka"] })]);
    await expect(t.rollouts.startRollout({ group: "interop-preflight", toVersion: 2 })).rejects.toMatchObject({ code: 9, rawMessage: expect.stringContaining(`${uid} lacks exporters/kafka`) });
    const has = await t.rollouts.preflight({ group: "interop-preflight", version: 3 });
    expect(has.result).toMatchObject({ passed: [uid], missing: [], unknown: [], components: ["exporters/debug", "receivers/nop"] });
  }, 60_000);
});
