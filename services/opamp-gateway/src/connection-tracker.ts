import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import { ConnectionSchema, type Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import type { AgentConnection } from "./agent-connection.js";

/**
 * The gateway's side of the ConnectionUsecase. A gateway is the only writer of
 * the connections it holds, so it keeps them in memory and GetConnectionByID
 * never leaves the process; SaveConnection and DeleteConnection go to
 * agent-service (the store) only when something changed.
 */
export class ConnectionTracker {
  private readonly connections = new Map<string, Connection>();
  /** The last store write per connection: writes of one connection run in order. */
  private readonly writes = new Map<string, Promise<unknown>>();
  /** Saves put off by saveSoon, by connection id. */
  private readonly putOff = new Map<string, NodeJS.Timeout>();
  /** Connections written to the store at least once (or being written): only those need a delete there. */
  private readonly stored = new Set<string>();

  constructor(
    private readonly gatewayId: string,
    private readonly remote: Client<typeof AgentGatewayService>,
    /** This process's epoch (see Connection.gateway_epoch). */
    private readonly gatewayEpoch = "",
  ) {}

  /** NewConnection of the design: the record for a freshly accepted transport session. */
  open(conn: AgentConnection): Connection {
    const record = create(ConnectionSchema, {
      id: conn.id,
      type: conn.type,
      gatewayId: this.gatewayId,
      gatewayEpoch: this.gatewayEpoch,
      remoteAddress: conn.remoteAddress,
      endpoint: conn.endpoint,
      credential: conn.credentials.credential,
      enrollmentCredential: conn.credentials.enrollmentCredential,
      certificateUid: conn.credentials.certificateUid,
      openedAt: timestampFromMs(conn.openedAt),
    });
    this.connections.set(conn.id, record);
    return record;
  }

  get(id: string): Connection | undefined {
    return this.connections.get(id);
  }

  /**
   * SaveConnection of a connection not yet named (OnConnected), written
   * after `delayMs` unless a save of the same connection comes first and
   * carries it: a new agent names itself in its first message a moment later,
   * and that save writes the whole record anyway. One store write per new
   * agent instead of two (docs/performance.md §10); a socket that stays
   * silent is still saved, anonymous, a moment later.
   */
  saveSoon(record: Connection, delayMs: number, onError: (err: unknown) => void): void {
    if (this.putOff.has(record.id)) return;
    const timer = setTimeout(() => {
      this.putOff.delete(record.id);
      this.save(record).catch(onError);
    }, delayMs).unref();
    this.putOff.set(record.id, timer);
  }

  /** SaveConnection: writes through to agent-service. */
  save(record: Connection): Promise<void> {
    this.cancelPutOff(record.id);
    this.stored.add(record.id);
    return this.inOrder(record.id, async () => {
      await this.remote.saveConnection({ connection: record });
    });
  }

  /**
   * SaveConnection carried by another call to agent-service (`call`: the
   * report of the message that names the connection, which saves it first),
   * in the connection's write order like save(): one call per new agent
   * instead of two. `call` resolves to whether it saved; when it did not
   * (an agent-service from before it could), the save is made here.
   */
  saveWith<T extends { connectionSaved: boolean }>(record: Connection, call: () => Promise<T>): Promise<T> {
    this.cancelPutOff(record.id);
    this.stored.add(record.id);
    return this.inOrder(record.id, async () => {
      const result = await call();
      if (!result.connectionSaved) await this.remote.saveConnection({ connection: record });
      return result;
    });
  }

  /**
   * The put-off anonymous save of `id` is not to be written: its session
   * was refused (see OpampService.onAdmissionRefused), or the message that
   * names it is on its way to saving it (saveWith). A later save writes it.
   */
  forgoAnonymousSave(id: string): void {
    this.cancelPutOff(id);
  }

  /** DeleteConnection: forgets locally and, if it was ever written, in the store. */
  delete(id: string): Promise<void> {
    this.cancelPutOff(id);
    if (!this.stored.has(id)) {
      this.connections.delete(id);
      return Promise.resolve();
    }
    return this.inOrder(id, async () => {
      await this.remote.deleteConnection({ id });
      this.connections.delete(id);
      this.stored.delete(id);
    });
  }

  private cancelPutOff(id: string): void {
    const timer = this.putOff.get(id);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.putOff.delete(id);
  }

  /**
   * Runs a store write after the previous write of the same connection has
   * settled: otherwise a slow first save (no instance UID yet) could land
   * after the second, or a save after the delete and bring it back.
   */
  private inOrder<T>(id: string, write: () => Promise<T>): Promise<T> {
    const next = (this.writes.get(id) ?? Promise.resolve()).catch(() => {}).then(write);
    this.writes.set(id, next);
    const forget = () => {
      if (this.writes.get(id) === next) this.writes.delete(id);
    };
    next.then(forget, forget);
    return next;
  }

  get size(): number {
    return this.connections.size;
  }
}
