import type { Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { ConnectionRepository } from "./connection-store.js";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

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
      limit: limit + 1,
      ...(query.gatewayId ? { gatewayId: query.gatewayId } : {}),
      ...(query.pageToken ? { after: query.pageToken } : {}),
    });
    const page = found.slice(0, limit);
    return { connections: page, nextPageToken: found.length > limit ? page[page.length - 1]!.id : "" };
  }
}

export function pageLimit(pageSize: number): number {
  return Math.min(pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
}
