import { RemoteConfigStatuses, ServerToAgentFlags, type ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { eventually } from "../../support/eventually.js";
import { WsAgent, description, hasFlag } from "../../support/simulated-agent.js";
import { bodyOf } from "../fleet/fleet-fixtures.js";

/** New agents connected at most every this many ms (the gateways admit 100 per second per address). */
const NEW_AGENT_SPACING_MS = 12;

/**
 * How often each simulated agent sends a heartbeat, unless told otherwise.
 * Short, so an agent a lapsed gateway lease marked disconnected is seen
 * again soon; but each heartbeat is a liveness write of the agent within 5 s
 * (AgentStore's batch): 200 agents at 3 s were 40 writes a second, most of
 * what FerretDB (SQLite) takes here — the 200-agent run uses agent-service's
 * offered 30 s, as real agents do.
 */
const HEARTBEAT_MS = 3_000;

/** How a simulated agent answers a configuration: APPLIED, or FAILED with a message. */
export type Answer = { applied: true } | { applied: false; error: string };

/** One configuration an agent was sent, with when it arrived. */
export interface Received {
  body: string;
  at: number;
}

/** The components a simulated collector reports (kind → types). */
export type Components = Record<string, string[]>;

/**
 * Simulated collectors of one group for rollout tests: each connects over
 * WebSocket, describes itself with the group's service name, and answers
 * every configuration it is sent by `answer` (default: APPLIED). What each
 * was sent is kept in order, so a test can say which agents moved.
 */
export class RolloutFleet {
  readonly agents: WsAgent[] = [];
  readonly sent = new Map<string, Received[]>();
  private readonly lastHash = new Map<string, { hash: Uint8Array; status: RemoteConfigStatuses; error: string }>();
  private readonly heartbeats = new Map<WsAgent, NodeJS.Timeout>();

  private constructor(
    private readonly service: string,
    private answer: (uid: string, body: string) => Answer,
    private readonly components: Components | undefined,
    private readonly heartbeatMs: number,
  ) {}

  static async connect(
    urls: string[],
    count: number,
    service: string,
    o: { answer?: (uid: string, body: string) => Answer; components?: Components; heartbeatMs?: number } = {},
  ): Promise<RolloutFleet> {
    const fleet = new RolloutFleet(service, o.answer ?? (() => ({ applied: true })), o.components, o.heartbeatMs ?? HEARTBEAT_MS);
    const started = Date.now();
    for (let i = 0; i < count; i++) {
      // Paced under the gateway's admission rate for new agents from one
      // address (100 per second), which would refuse a faster burst.
      const due = started + i * NEW_AGENT_SPACING_MS;
      if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()));
      fleet.agents.push(await fleet.attach(urls[i % urls.length]!, uuidv7Bytes()));
    }
    return fleet;
  }

  /** The agents' hex uids, in instance-UID order (the order stages choose in). */
  get uids(): string[] {
    return this.agents.map((a) => hex(a.uid)).sort();
  }

  setAnswer(answer: (uid: string, body: string) => Answer): void {
    this.answer = answer;
  }

  /**
   * The configurations an agent was given, in order. The same one sent
   * again (the server resends what an agent has not confirmed, e.g. when its
   * report was not yet read) is not a new configuration and is not counted.
   */
  bodies(uid: string): string[] {
    return (this.sent.get(uid) ?? []).map((r) => r.body).filter((b, i, all) => i === 0 || all[i - 1] !== b);
  }

  agent(uid: string): WsAgent {
    return this.agents.find((a) => hex(a.uid) === uid)!;
  }

  /** Connects one more agent of the group (a late joiner). */
  async join(url: string): Promise<WsAgent> {
    const agent = await this.attach(url, uuidv7Bytes());
    this.agents.push(agent);
    return agent;
  }

  /**
   * Reconnects every agent to `url` under the same UID (its gateway's
   * replica died, or the server restarted), telling its description and
   * the status of the configuration it last answered.
   */
  async moveTo(url: string): Promise<void> {
    const old = this.agents.splice(0);
    for (const a of old) clearInterval(this.heartbeats.get(a));
    await Promise.all(old.map((a) => a.close()));
    for (const a of old) this.agents.push(await this.attach(url, a.uid, a.seq));
    // Answered: the server behind `url` has recorded each agent's new connection.
    await eventually(() => this.agents.every((a) => a.received.length > 0), 30_000 + this.agents.length * 300, "every moved agent answered on its new connection");
  }

  async close(): Promise<void> {
    for (const timer of this.heartbeats.values()) clearInterval(timer);
    this.heartbeats.clear();
    await Promise.all(this.agents.map((a) => a.close()));
  }

  private async attach(url: string, uid: Uint8Array, seq = 0n): Promise<WsAgent> {
    const agent = await WsAgent.connect(url, uid);
    agent.seq = seq;
    const id = hex(uid);
    agent.socket.on("message", () => this.onMessage(agent, id, agent.received[agent.received.length - 1]!));
    this.sendFullState(agent, id);
    // Heartbeats, as real agents send: a server that marked the agent
    // disconnected (a gateway lease that lapsed under load) sees it again,
    // and the reply carries what is pending for it.
    const timer = setInterval(() => {
      if (agent.socket.readyState === agent.socket.OPEN) agent.send({});
      else clearInterval(timer);
    }, this.heartbeatMs);
    timer.unref();
    this.heartbeats.set(agent, timer);
    return agent;
  }

  /** Everything the agent would say about itself: its first message, and the answer to ReportFullState. */
  private sendFullState(agent: WsAgent, uid: string): void {
    const last = this.lastHash.get(uid);
    agent.send({
      agentDescription: description(this.service) as never,
      ...(this.components ? { availableComponents: availableComponentsOf(this.components) as never } : {}),
      ...(last ? { remoteConfigStatus: { lastRemoteConfigHash: last.hash, status: last.status, errorMessage: last.error } as never } : {}),
    });
  }

  private onMessage(agent: WsAgent, uid: string, msg: ServerToAgent): void {
    // A server that lost track (e.g. its gateway's lease lapsed under load) asks for the full state.
    if (hasFlag(msg.flags, ServerToAgentFlags.ServerToAgentFlags_ReportFullState) && agent.socket.readyState === agent.socket.OPEN) this.sendFullState(agent, uid);
    if (!msg.remoteConfig) return;
    const body = bodyOf(msg)!;
    const list = this.sent.get(uid) ?? [];
    list.push({ body, at: Date.now() });
    this.sent.set(uid, list);
    const answer = this.answer(uid, body);
    const status = answer.applied ? RemoteConfigStatuses.RemoteConfigStatuses_APPLIED : RemoteConfigStatuses.RemoteConfigStatuses_FAILED;
    const error = answer.applied ? "" : answer.error;
    this.lastHash.set(uid, { hash: msg.remoteConfig.configHash, status, error });
    if (agent.socket.readyState === agent.socket.OPEN) agent.reportConfig(msg.remoteConfig.configHash, status, error);
  }
}

function availableComponentsOf(components: Components) {
  const details = (types: string[]) => ({ metadata: [], subComponentMap: Object.fromEntries(types.map((t) => [t, { metadata: [], subComponentMap: {} }])) });
  return { hash: new Uint8Array([components ? Object.keys(components).length : 0, 1]), components: Object.fromEntries(Object.entries(components).map(([k, v]) => [k, details(v)])) };
}
