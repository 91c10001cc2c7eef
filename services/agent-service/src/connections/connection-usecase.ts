import type { Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { fetchLimit, pageLimit, toPage } from "@fleetplane/platform";
import type { ConnectionRepository } from "./connection-store.js";

/** The ConnectionUsecase of the design: where each agent connection lives. */
export class ConnectionUsecase {
  constructor(private readonly connections: ConnectionRepository) {}

  save(connection: Connection): Promise<void> {
    return this.connections.save(connection);
  }

  get(id: string): Promise<Connection | undefined> {
    return this.connections.get(id);
  }

  delete(id: string): Promise<void> {
    return this.connections.delete(id);
  }

  async list(query: { gatewayId?: string; pageSize: number; pageToken?: string }): Promise<{ connections: Connection[]; nextPageToken: string }> {
    const limit = pageLimit(query.pageSize);
    const found = await this.connections.list({
      limit: fetchLimit(limit),
      ...(query.gatewayId ? { gatewayId: query.gatewayId } : {}),
      ...(query.pageToken ? { after: query.pageToken } : {}),
    });
    const { page, nextPageToken } = toPage(found, limit, (last) => last.id);
    return { connections: page, nextPageToken };
  }
}
