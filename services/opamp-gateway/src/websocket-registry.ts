import type { AgentConnection } from "./agent-connection.js";

/**
 * The WebSocketRegistry of the design: live WebSocket connections of this
 * gateway, by connection id and by the agent instance UID they carry. Lookups
 * are O(1) so a push costs the same for a fleet of ten or a million.
 */
export class WebSocketRegistry {
  private readonly byId = new Map<string, { conn: AgentConnection; uid?: string }>();
  private readonly byUid = new Map<string, AgentConnection>();

  register(conn: AgentConnection): void {
    this.byId.set(conn.id, { conn });
  }

  /**
   * The connection's agent is `uid` (32 hex digits; the string the
   * connection names its agent by, conn.agent: one string per socket, not two).
   */
  updateInstanceUid(connectionId: string, uid: string): void {
    const entry = this.byId.get(connectionId);
    if (!entry) return;
    if (entry.uid === uid) return;
    if (entry.uid && this.byUid.get(entry.uid) === entry.conn) this.byUid.delete(entry.uid);
    entry.uid = uid;
    this.byUid.set(uid, entry.conn);
  }

  getByInstanceUid(uid: string): AgentConnection | undefined {
    return this.byUid.get(uid);
  }

  unregister(connectionId: string): void {
    const entry = this.byId.get(connectionId);
    if (!entry) return;
    this.byId.delete(connectionId);
    if (entry.uid && this.byUid.get(entry.uid) === entry.conn) this.byUid.delete(entry.uid);
  }

  /** Connections that have told us their agent's instance UID. */
  *identified(): IterableIterator<{ instanceUid: string; conn: AgentConnection }> {
    for (const entry of this.byId.values()) if (entry.uid) yield { instanceUid: entry.uid, conn: entry.conn };
  }

  get size(): number {
    return this.byId.size;
  }
}
