import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import type { Logger } from "@fleetplane/platform";
import { InvalidRequestError } from "../agents/agent-errors.js";
import type { ConnectionUsecase } from "../connections/connection-usecase.js";
import type { GatewayLeases } from "../connections/gateway-leases.js";
import { guarded } from "./connect-errors.js";

/** The Connect face of the ConnectionUsecase. */
export function createConnectionServiceImpl(connections: ConnectionUsecase, leases: GatewayLeases, logger: Logger): ServiceImpl<typeof ConnectionService> {
  const guard = guarded(logger);
  return {
    saveConnection: (req) =>
      guard("SaveConnection", async () => {
        if (!req.connection?.id) throw new InvalidRequestError("SaveConnection needs a connection with an id");
        await connections.save(req.connection);
        return {};
      }),
    getConnection: (req) =>
      guard("GetConnection", async () => {
        const connection = await connections.get(req.id);
        if (!connection) throw new ConnectError(`connection ${req.id} is not known`, Code.NotFound);
        return { connection };
      }),
    deleteConnection: (req) =>
      guard("DeleteConnection", async () => {
        await connections.delete(req.id);
        return {};
      }),
    listConnections: (req) =>
      guard("ListConnections", async () =>
        connections.list({ pageSize: req.pageSize, ...(req.gatewayId ? { gatewayId: req.gatewayId } : {}), ...(req.pageToken ? { pageToken: req.pageToken } : {}) }),
      ),
    renewGatewayLease: (req) =>
      guard("RenewGatewayLease", async () => {
        await leases.renew(req.gatewayId, req.ttlSeconds);
        return {};
      }),
    releaseGatewayLease: (req) =>
      guard("ReleaseGatewayLease", async () => {
        await leases.release(req.gatewayId);
        return {};
      }),
  };
}
