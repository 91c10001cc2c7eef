import { RemoteConfigStatuses, type ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex as hex, uuidv7Bytes } from "@fleetplane/platform";
import { WsAgent, description } from "../../support/simulated-agent.js";
import { bodyOf } from "../fleet/fleet-fixtures.js";

/** New agents connected at most every this many ms (the gateways admit 100 per second per address). */
const NEW_AGENT_SPACING_MS = 12;

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

  private constructor(
    private readonly service: string,
    private answer: (uid: string, body: string) => Answer,
    private readonly components: Components | undefined,
  ) {}

  static async connect(urls: string[], count: number, service: string, o: { answer?: (uid: string, body: string) => Answer; components?: Components } = {}): Promise<RolloutFleet> {
    const fleet = new RolloutFleet(service, o.answer ?? (() => ({ applied: true })), o.components);
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

  /** The bodies an agent was sent, in order. */
  bodies(uid: string): string[] {
    return (this.sent.get(uid) ?? []).map((r) => r.body);
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
    await Promise.all(old.map((a) => a.close()));
    for (const a of old) this.agents.push(await this.attach(url, a.uid, a.seq));
  }

  async close(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.close()));
  }

  private async attach(url: string, uid: Uint8Array, seq = 0n): Promise<WsAgent> {
    const agent = await WsAgent.connect(url, uid);
    agent.seq = seq;
    const id = hex(uid);
    agent.socket.on("message", () => this.onMessage(agent, id, agent.received[agent.received.length - 1]!));
    const last = this.lastHash.get(id);
    agent.send({
      agentDescription: description(this.service) as never,
      ...(this.components ? { availableComponents: availableComponentsOf(this.components) as never } : {}),
      ...(last ? { remoteConfigStatus: { lastRemoteConfigHash: last.hash, status: last.status, errorMessage: last.error } as never } : {}),
    });
    return agent;
  }

  private onMessage(agent: WsAgent, uid: string, msg: ServerToAgent): void {
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
