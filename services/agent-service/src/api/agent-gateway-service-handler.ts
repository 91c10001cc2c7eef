import type { ServiceImpl } from "@connectrpc/connect";
import { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import type { ReportMessageRequest } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import type { Logger } from "@fleetplane/platform";
import { canonicalUid } from "./canonical-uid.js";
import { asConnectError, guarded } from "./connect-errors.js";
import { InvalidRequestError } from "../agents/agent-errors.js";
import type { AgentReports } from "../agents/agent-reports.js";
import type { ConnectionUsecase } from "../connections/connection-usecase.js";
import type { GatewayLeases } from "../connections/gateway-leases.js";
import type { AgentCredentialCheck } from "../enrollment/agent-credential-check.js";

/** Bounds the work and memory of one batch call. */
export const MAX_REPORTS_PER_BATCH = 1000;
/** The same bound for a PullServerToAgents call. */
export const MAX_PULLS_PER_BATCH = 1000;

/** What the gateways' side of agent-service is made of. */
export interface AgentGatewayParts {
  reports: AgentReports;
  connections: ConnectionUsecase;
  leases: GatewayLeases;
  /** Checks agents' tokens and client certificates; without it every credential is refused. */
  credentials?: AgentCredentialCheck;
}

/**
 * The Connect face gateways call (internal: served on the internal listener
 * or in process, never on the admin API): reports, pulls, disconnects,
 * connections and leases.
 */
export function createAgentGatewayServiceImpl({ reports, connections, leases, credentials }: AgentGatewayParts, logger: Logger): ServiceImpl<typeof AgentGatewayService> {
  const guard = guarded(logger);
  /**
   * The SaveConnection a report carries (the message that names its
   * connection), before the report as in the design: one call per new agent
   * instead of two (docs/performance.md §14). Call it when r.saveConnection.
   */
  const saveCarried = async (r: ReportMessageRequest): Promise<true> => {
    if (!r.connection?.id) throw new InvalidRequestError("a report that saves its connection needs a connection with an id");
    await connections.save(r.connection);
    return true;
  };
  /** One pull, as PullServerToAgent answers it and PullServerToAgents answers each of its pulls. */
  const pull = async (p: { instanceUid: string; connectionId: string; revision: bigint }) => {
    const { message, more } = await reports.pull(canonicalUid(p.instanceUid), p.connectionId, p.revision);
    return message ? { message, more } : { more };
  };
  return {
    reportMessage: (req) =>
      guard("ReportMessage", async () => {
        if (!req.connection || !req.message) throw new InvalidRequestError("ReportMessage needs a connection and a message");
        const connectionSaved = req.saveConnection && (await saveCarried(req));
        return { ...(await reports.reportMessage(req.connection, req.message, req.heartbeatsAnswered)), connectionSaved };
      }, req.message?.instanceUid),
    reportMessages: (req) =>
      guard("ReportMessages", async () => {
        if (req.reports.length > MAX_REPORTS_PER_BATCH) throw new InvalidRequestError(`at most ${MAX_REPORTS_PER_BATCH} reports per ReportMessages call, got ${req.reports.length}`);
        const results = await Promise.all(
          req.reports.map(async (r) => {
            let connectionSaved = false;
            try {
              if (!r.connection || !r.message) throw new InvalidRequestError("each report needs a connection and a message");
              // (A heartbeat carries none: no promise to wait for.)
              if (r.saveConnection) connectionSaved = await saveCarried(r);
              return { ...(await reports.reportMessage(r.connection, r.message, r.heartbeatsAnswered)), connectionSaved };
            } catch (err) {
              const ce = asConnectError(err, logger, "ReportMessages", r.message?.instanceUid);
              return { errorCode: ce.code, errorMessage: ce.rawMessage, connectionSaved };
            }
          }),
        );
        return { results };
      }),
    pullServerToAgent: (req) => guard("PullServerToAgent", () => pull(req), req.instanceUid),
    pullServerToAgents: (req) =>
      guard("PullServerToAgents", async () => {
        if (req.pulls.length > MAX_PULLS_PER_BATCH) throw new InvalidRequestError(`at most ${MAX_PULLS_PER_BATCH} pulls per PullServerToAgents call, got ${req.pulls.length}`);
        const results = await Promise.all(
          req.pulls.map(async (p) => {
            try {
              return await pull(p);
            } catch (err) {
              const ce = asConnectError(err, logger, "PullServerToAgents", p.instanceUid);
              return { more: false, errorCode: ce.code, errorMessage: ce.rawMessage };
            }
          }),
        );
        return { results };
      }),
    markDisconnected: (req) =>
      guard("MarkDisconnected", async () => ({
        disconnected: await reports.markDisconnected(canonicalUid(req.instanceUid), req.connectionId),
      }), req.instanceUid),
    saveConnection: (req) =>
      guard("SaveConnection", async () => {
        if (!req.connection?.id) throw new InvalidRequestError("SaveConnection needs a connection with an id");
        await connections.save(req.connection);
        return {};
      }),
    deleteConnection: (req) =>
      guard("DeleteConnection", async () => {
        await connections.delete(req.id);
        return {};
      }),
    renewGatewayLease: (req) =>
      guard("RenewGatewayLease", async () => {
        return await leases.renew(req.gatewayId, req.ttlSeconds, req.gatewayEpoch);
      }),
    releaseGatewayLease: (req) =>
      guard("ReleaseGatewayLease", async () => {
        await leases.release(req.gatewayId);
        return {};
      }),
    authenticateAgent: (req) =>
      guard("AuthenticateAgent", async () => {
        const answer = credentials ? await credentials.authenticate(req) : { refusal: "this server checks no agent credentials" };
        return { credential: answer.credential ?? "", refusal: answer.refusal ?? "" };
      }),
  };
}
