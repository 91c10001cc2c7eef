import type { Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";

/** Where connections are kept (secondary port of the ConnectionUsecase). */
export interface ConnectionRepository {
  save(connection: Connection): Promise<void>;
  get(id: string): Promise<Connection | undefined>;
  delete(id: string): Promise<void>;
  list(query: { gatewayId?: string; limit: number; after?: string }): Promise<Connection[]>;
}
