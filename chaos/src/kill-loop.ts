import { RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { CommandState } from "@fleetplane/gen/fleetplane/command/v1/command_service_pb";
import { Fleet } from "@fleetplane/simulator";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually } from "../../test/support/eventually.js";
import { freePort } from "../../test/support/free-port.js";
import { adminClients } from "./admin-clients.js";
import { seededRandom } from "./seeded-random.js";
import { ServerProcess, standaloneCommand } from "./server-process.js";

export interface KillLoopOptions {
  seed: number;
  /** kill -9 rounds (default 20). */
  rounds?: number;
  /** Simulated WebSocket agents (default 500). */
  agents?: number;
  /** SetRemoteConfig calls per round, spread over the moments around the kill (default 25). */
  configsPerRound?: number;
  /** How long to wait, after the last restart, for every acknowledged config to reach its agent (default 60 s). */
  settleMs?: number;
  progress?: (line: string) => void;
  /**
   * Fault injection, to show the counts can fail: restart on an empty data
   * directory, as a store that lost its writes would. Never set in a real run.
   */
  injectStoreLoss?: boolean;
}

export interface KillLoopReport {
  seed: number;
  rounds: number;
  agents: number;
  /** Admin calls that returned success before or around a kill. */
  configsAcknowledged: number;
  /** Admin calls that failed (in flight when the server died): no promise was made. */
  configsRefused: number;
  /** Acknowledged configs that are not in the store after the restarts: a broken promise. */
  acknowledgedLost: number;
  /** Acknowledged configs that never reached their agent within the settle time. */
  acknowledgedNotDelivered: number;
  /** ...of which the agent had been given a new instance UID (so its config stayed on the old one). */
  notDeliveredAfterReassignment: number;
  /** Audit records of these configs still PENDING or DELIVERED although the agent reported APPLIED. */
  auditRecordsStuck: number;
  /** Agents told their UID was a duplicate and given a new one (issue 15 item 3), in all and per round. */
  uidReassignments: number;
  uidReassignmentsPerRound: number[];
  /** Seconds from kill -9 until the restarted server answered all agents again, mean and max. */
  recoverySeconds: { mean: number; max: number };
  seconds: number;
}

/**
 * The kill -9 loop: a fleet of simulated agents on one standalone server;
 * each round, remote configs are set through the admin API while the
 * server is killed with SIGKILL part-way, then it is restarted on the same
 * data directory and ports. Afterwards it counts what a crash must never
 * cost: acknowledged configs lost or not delivered, audit records that
 * never settle, and agents handed new UIDs.
 */
export async function runKillLoop(options: KillLoopOptions): Promise<KillLoopReport> {
  const rounds = options.rounds ?? 20;
  const agentCount = options.agents ?? 500;
  const perRound = options.configsPerRound ?? 25;
  const random = seededRandom(options.seed);
  const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-chaos-kill-"));
  const ports = { opamp: await freePort(), api: await freePort() };
  const start = () => startOnPorts(options.injectStoreLoss ? mkdtempSync(join(tmpdir(), "fleetplane-chaos-forgetful-")) : dataDir, ports);
  const started = performance.now();

  let server = await start();
  // Printed once, at the first start on an empty store; a restart on the
  // same store prints none and the first key still holds.
  let apiKey = server.adminKey;
  const delivered = new Map<number, Set<string>>();
  const fleet = new Fleet({
    url: server.opampWsUrl,
    agents: agentCount,
    transport: "ws",
    intervalMs: 10_000,
    jitter: 0.2,
    closedLoop: false,
    gzip: false,
    failMarker: "",
    rampPerSecond: 500,
    onRemoteConfig: (agent, config) => {
      const index = fleet.agents.indexOf(agent);
      if (!delivered.has(index)) delivered.set(index, new Set());
      delivered.get(index)!.add(config);
    },
  });
  const calls: Array<{ agent: number; uid: string; text: string; acknowledged: boolean }> = [];
  const reassignedPerRound: number[] = [];
  const recovery: number[] = [];
  try {
    await fleet.start();
    await fleet.whenFirstReplies(agentCount, 120_000);
    const originalUids = fleet.agents.map((a) => a.uidHex);
    // Each agent gets at most one config in the whole run, so "its config" is unambiguous.
    const order = shuffled(fleet.agents.map((_, i) => i), random);
    for (let round = 0; round < rounds; round++) {
      const admin = adminClients(server.apiUrl, apiKey);
      const targets = order.splice(0, perRound);
      const spreadMs = 1_500;
      const killAt = spreadMs * (0.3 + 0.6 * random());
      const inFlight = targets.map(async (agent, i) => {
        await sleep((spreadMs * i) / targets.length);
        const uid = fleet.agents[agent]!.uidHex;
        const text = `# chaos kill round ${round} agent ${agent}\nreceivers: {}\n`;
        const acknowledged = await admin.agents
          .setRemoteConfig({ instanceUid: uid, files: { "": { content: { case: "text", value: text } } } })
          .then(() => true)
          .catch(() => false);
        calls.push({ agent, uid, text, acknowledged });
      });
      await sleep(killAt);
      await server.kill9();
      const killedAt = performance.now();
      await Promise.all(inFlight);
      const before = fleet.agents.filter((a, i) => a.uidHex !== originalUids[i]).length;
      server = await start();
      apiKey = server.adminKey ?? apiKey;
      await eventually(() => fleet.stats.connected >= agentCount, 120_000, "all agents reconnected");
      recovery.push((performance.now() - killedAt) / 1000);
      reassignedPerRound.push(fleet.agents.filter((a, i) => a.uidHex !== originalUids[i]).length - before);
      options.progress?.(`kill: round ${round + 1}/${rounds}, ${calls.filter((c) => c.acknowledged).length} configs acknowledged, ${reassignedPerRound.at(-1)} UIDs reassigned, recovered in ${recovery.at(-1)!.toFixed(1)} s`);
    }

    const acknowledged = calls.filter((c) => c.acknowledged);
    const isDelivered = (c: (typeof calls)[number]) => delivered.get(c.agent)?.has(c.text) ?? false;
    // Count what has not arrived by the end of the settle time rather than fail here: the figures say how many.
    await eventually(() => acknowledged.every(isDelivered), options.settleMs ?? 60_000, "acknowledged configs delivered").catch(() => undefined);

    const admin = adminClients(server.apiUrl, apiKey);
    const count = async () => {
      let lost = 0;
      let stuck = 0;
      for (const call of acknowledged) {
        const agent = (await admin.agents.getAgent({ instanceUid: call.uid })).agent;
        const body = agent?.spec?.remoteConfig?.data?.config?.configMap[""]?.body;
        if (!body || new TextDecoder().decode(body) !== call.text) lost++;
        if (agent?.spec?.remoteConfig?.data?.status === RemoteConfigState.APPLIED) {
          const records = (await admin.commands.listCommands({ instanceUid: call.uid, pageSize: 1000 })).commands;
          stuck += records.filter((r) => r.kind === "remote_config" && (r.state === CommandState.PENDING || r.state === CommandState.DELIVERED)).length;
        }
      }
      return { lost, stuck };
    };
    // An audit record settles a moment after its agent's APPLIED is stored (the
    // transition goes to command-service behind it): stuck means still unsettled
    // at the end of the settle time, not at the first look.
    let counted = await count();
    if (counted.stuck > 0) {
      await eventually(async () => ((counted = await count()).stuck === 0 ? true : undefined), options.settleMs ?? 60_000, "audit records settled", 1_000).catch(() => undefined);
    }
    const { lost, stuck } = counted;
    const notDelivered = acknowledged.filter((c) => !isDelivered(c));
    return {
      seed: options.seed,
      rounds,
      agents: agentCount,
      configsAcknowledged: acknowledged.length,
      configsRefused: calls.length - acknowledged.length,
      acknowledgedLost: lost,
      acknowledgedNotDelivered: notDelivered.length,
      notDeliveredAfterReassignment: notDelivered.filter((c) => fleet.agents[c.agent]!.uidHex !== c.uid).length,
      auditRecordsStuck: stuck,
      uidReassignments: reassignedPerRound.reduce((a, b) => a + b, 0),
      uidReassignmentsPerRound: reassignedPerRound,
      recoverySeconds: { mean: round1(recovery.reduce((a, b) => a + b, 0) / Math.max(1, recovery.length)), max: round1(Math.max(0, ...recovery)) },
      seconds: round1((performance.now() - started) / 1000),
    };
  } finally {
    fleet.stop();
    await server.stop();
  }
}

/** Starts the server on fixed ports (agents keep their URL across restarts); a port can linger a moment after kill -9. */
async function startOnPorts(dataDir: string, ports: { opamp: number; api: number }): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ServerProcess.start(standaloneCommand(dataDir, ports));
    } catch (err) {
      if (attempt >= 5) throw err;
      await sleep(500 * attempt);
    }
  }
}

function shuffled<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round1 = (x: number) => Math.round(x * 10) / 10;
