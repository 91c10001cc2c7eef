import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { ConnectionService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import type { Logger } from "@fleetplane/platform";
import type { ConnectionUsecase } from "../connections/connection-usecase.js";
import { guarded } from "./connect-errors.js";

/** The admin face of the ConnectionUsecase: where each agent is connected (gateways write through AgentGatewayService). */
export function createConnectionServiceImpl(connections: ConnectionUsecase, logger: Logger): ServiceImpl<typeof ConnectionService> {
  const guard = guarded(logger);
  return {
    getConnection: (req) =>
      guard("GetConnection", async () => {
        const connection = await connections.get(req.id);
        if (!connection) throw new ConnectError(`connection ${req.id} is not known`, Code.NotFound);
        return { connection };
      }),
    listConnections: (req) =>
      guard("ListConnections", async () =>
        connections.list({ pageSize: req.pageSize, ...(req.gatewayId ? { gatewayId: req.gatewayId } : {}), ...(req.pageToken ? { pageToken: req.pageToken } : {}) }),
      ),
  };
}
