import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import type { AgentToServer, ServerToAgent } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { currentLink, inBatchSpan } from "@fleetplane/platform-node";
import type { Link } from "@opentelemetry/api";
import { TurnBatches } from "./turn-batches.js";

interface Pending {
  link: Link | undefined;
  connection: Connection;
  message: AgentToServer;
  saveConnection: boolean;
  heartbeatsAnswered: bigint;
}

/** agent-service's answer to one report. */
export interface ReportResult {
  reply: ServerToAgent;
  /** The heartbeat interval the agent runs at (0: unknown). */
  heartbeatIntervalSeconds: bigint;
  /** agent-service saved the connection the report carried (`saveConnection`). */
  connectionSaved: boolean;
  /** The gateway may answer the agent's next heartbeats with `reply` itself (heartbeat-answers.ts). */
  acknowledgesHeartbeats: boolean;
}

/** Reports per ReportMessages call at most (agent-service accepts up to 1000). */
export const MAX_BATCH = 500;

/**
 * Sends agent reports to agent-service in batches (turn-batches.ts): every
 * report that arrives in the same turn of the event loop goes out in one
 * ReportMessages call.
 * Under load that amortizes the HTTP/2 and Connect cost of the hop over
 * hundreds of reports; when idle a report waits only for the current turn to
 * end. Each caller still gets its own reply or its own error.
 */
export class ReportBatcher {
  private readonly batches: TurnBatches<Pending, ReportResult>;

  constructor(agents: Client<typeof AgentGatewayService>) {
    this.batches = new TurnBatches(MAX_BATCH, async (batch) => {
      // The batch is its own trace, linked to the message spans it carries.
      const { results } = await inBatchSpan("opamp.report_batch", () => batch.map((p) => p.link), batch.length, () =>
        agents.reportMessages({ reports: batch.map((p) => ({ connection: p.connection, message: p.message, saveConnection: p.saveConnection, heartbeatsAnswered: p.heartbeatsAnswered })) }),
      );
      return batch.map((_, i): ReportResult | Error => {
        const r = results[i];
        if (r?.reply) return { reply: r.reply, heartbeatIntervalSeconds: r.heartbeatIntervalSeconds, connectionSaved: r.connectionSaved, acknowledgesHeartbeats: r.acknowledgesHeartbeats };
        return new ConnectError(r?.errorMessage || "agent-service returned no reply", (r?.errorCode as Code) || Code.Internal);
      });
    });
  }

  /**
   * `saveConnection`: agent-service saves the connection before the report (the message that names it).
   * `heartbeatsAnswered`: heartbeats the gateway answered itself just before `message` (heartbeat-answers.ts).
   */
  report(connection: Connection, message: AgentToServer, saveConnection = false, heartbeatsAnswered = 0n): Promise<ReportResult> {
    return this.batches.add({ link: currentLink(), connection, message, saveConnection, heartbeatsAnswered });
  }
}
