import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentConfigMapSchema, CustomMessageSchema, type AgentConfigFile } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex, type Logger, fetchLimit, pageLimit, toPage } from "@fleetplane/platform";
import { canonicalUid } from "./canonical-uid.js";
import { asConnectError, guarded } from "./connect-errors.js";
import { InvalidRequestError } from "../agents/agent-errors.js";
import { namespaceOf } from "../agents/agent-namespace.js";
import type { AdminCommands } from "../agents/admin-commands.js";
import type { AgentReports } from "../agents/agent-reports.js";
import type { AgentStore } from "../agents/agent-store.js";
import { isHealthy, remoteConfigStateOf } from "../agents/fleet-summary.js";
import { requesterOf } from "./requested-by.js";
import { requestNamespace } from "../fleet/resource-names.js";

/** Bounds the work and memory of one batch call. */
export const MAX_REPORTS_PER_BATCH = 1000;

/** The three parts of the agents' side that AgentService serves. */
export interface AgentServiceParts {
  store: AgentStore;
  reports: AgentReports;
  commands: AdminCommands;
}

/** The Connect face of agent-service's AgentService. */
export function createAgentServiceImpl({ store, reports, commands }: AgentServiceParts, logger: Logger): ServiceImpl<typeof AgentService> {
  const guard = guarded(logger);

  return {
    reportMessage: (req) =>
      guard("ReportMessage", async () => {
        if (!req.connection || !req.message) throw new InvalidRequestError("ReportMessage needs a connection and a message");
        return reports.reportMessage(req.connection, req.message);
      }, req.message?.instanceUid),
    reportMessages: (req) =>
      guard("ReportMessages", async () => {
        if (req.reports.length > MAX_REPORTS_PER_BATCH) throw new InvalidRequestError(`at most ${MAX_REPORTS_PER_BATCH} reports per ReportMessages call, got ${req.reports.length}`);
        const results = await Promise.all(
          req.reports.map(async (r) => {
            try {
              if (!r.connection || !r.message) throw new InvalidRequestError("each report needs a connection and a message");
              return await reports.reportMessage(r.connection, r.message);
            } catch (err) {
              const ce = asConnectError(err, logger, "ReportMessages", r.message?.instanceUid);
              return { errorCode: ce.code, errorMessage: ce.rawMessage };
            }
          }),
        );
        return { results };
      }),
    pullServerToAgent: (req) =>
      guard("PullServerToAgent", async () => {
        const message = await reports.pullServerToAgent(canonicalUid(req.instanceUid), req.connectionId);
        return message ? { message } : {};
      }, req.instanceUid),
    markDisconnected: (req) =>
      guard("MarkDisconnected", async () => ({
        disconnected: await reports.markDisconnected(canonicalUid(req.instanceUid), req.connectionId),
      }), req.instanceUid),
    getAgent: (req) => guard("GetAgent", async () => ({ agent: await store.getAgent(canonicalUid(req.instanceUid), requestNamespace(req.namespace)) }), req.instanceUid),
    listAgents: (req) =>
      guard("ListAgents", async () => {
        const limit = pageLimit(req.pageSize);
        const f = req.filter;
        const where = (a: Agent) =>
          (f?.remoteConfigState === undefined || remoteConfigStateOf(a) === f.remoteConfigState) && (f?.healthy === undefined || isHealthy(a) === f.healthy);
        const found = await store.listAgents({
          limit: fetchLimit(limit),
          namespace: requestNamespace(req.namespace),
          ...(f && Object.keys(f.labels).length > 0 ? { labels: f.labels } : {}),
          ...(req.pageToken ? { after: canonicalUid(req.pageToken) } : {}),
          ...(f?.connected !== undefined ? { connected: f.connected } : {}),
          ...(f && Object.keys(f.attributes).length > 0 ? { attributes: f.attributes } : {}),
          where,
        });
        const { page, nextPageToken } = toPage(found, limit, (last) => instanceUidToHex(last.metadata!.instanceUid));
        return { agents: page, nextPageToken };
      }),
    getFleetSummary: (req) => guard("GetFleetSummary", async () => ({ summary: await store.fleetSummary(requestNamespace(req.namespace)) })),
    setRemoteConfig: (req) =>
      guard("SetRemoteConfig", async () => {
        const configMap: Record<string, AgentConfigFile> = {};
        for (const [name, file] of Object.entries(req.files)) {
          const body = file.content.case === "text" ? new TextEncoder().encode(file.content.value) : file.content.case === "body" ? file.content.value : undefined;
          if (!body) throw new InvalidRequestError(`remote config file "${name}" has no content (set text or body)`);
          configMap[name] = { $typeName: "opamp.proto.v1.AgentConfigFile", body, contentType: file.contentType };
        }
        const uid = canonicalUid(req.instanceUid);
        const { agent, command, pushed } = await commands.setRemoteConfig(uid, create(AgentConfigMapSchema, { configMap }), requesterOf(req.requestedBy), requestNamespace(req.namespace));
        return { agent, commandId: command.id, pushed };
      }, req.instanceUid),
    sendCommand: (req) =>
      guard("SendCommand", async () => {
        const { command, pushed } = await commands.sendCommand(canonicalUid(req.instanceUid), req.kind, requesterOf(req.requestedBy), requestNamespace(req.namespace));
        return { command, pushed };
      }, req.instanceUid),
    setConnectionSettings: (req) =>
      guard("SetConnectionSettings", async () => {
        if (!req.offers) throw new InvalidRequestError("SetConnectionSettings needs offers");
        const { agent, command, pushed } = await commands.setConnectionSettings(canonicalUid(req.instanceUid), req.offers, requesterOf(req.requestedBy), requestNamespace(req.namespace));
        return { agent, commandId: command.id, pushed };
      }, req.instanceUid),
    setPackagesAvailable: (req) =>
      guard("SetPackagesAvailable", async () => {
        const { agent, command, pushed } = await commands.setPackagesAvailable(canonicalUid(req.instanceUid), req.packages, requesterOf(req.requestedBy), requestNamespace(req.namespace));
        return { agent, commandId: command.id, pushed };
      }, req.instanceUid),
    sendCustomMessage: (req) =>
      guard("SendCustomMessage", async () => {
        const message = create(CustomMessageSchema, { capability: req.capability, type: req.type, data: req.data });
        const { command, pushed } = await commands.sendCustomMessage(canonicalUid(req.instanceUid), message, requesterOf(req.requestedBy), requestNamespace(req.namespace));
        return { command, pushed };
      }, req.instanceUid),
    setAgentLabels: (req, ctx) =>
      guard("SetAgentLabels", async () => {
        const { agent, commandId, pushed } = await commands.setLabels(canonicalUid(req.instanceUid), req.labels, requesterOf("", ctx), requestNamespace(req.namespace));
        return { agent, commandId, pushed };
      }, req.instanceUid),
    clearRemoteConfig: (req, ctx) =>
      guard("ClearRemoteConfig", async () => {
        const { agent, commandId, pushed } = await commands.clearRemoteConfig(canonicalUid(req.instanceUid), requesterOf("", ctx), requestNamespace(req.namespace));
        return { agent, commandId, pushed };
      }, req.instanceUid),
    deleteAgent: (req, ctx) =>
      guard("DeleteAgent", async () => {
        const { commandId, connectionClosed } = await commands.deleteAgent(canonicalUid(req.instanceUid), requesterOf("", ctx), requestNamespace(req.namespace), req.force);
        return { commandId, connectionClosed };
      }, req.instanceUid),
    async *watchAgents(req, ctx) {
      const only = req.instanceUid ? canonicalUid(req.instanceUid) : undefined;
      const namespace = requestNamespace(req.namespace);
      const queue: Agent[] = [];
      let wake: (() => void) | undefined;
      const MAX_BACKLOG = 10_000;
      let overflow = false;
      const stop = store.watch((agent) => {
        if (only && instanceUidToHex(agent.metadata!.instanceUid) !== only) return;
        if (namespaceOf(agent) !== namespace) return;
        if (queue.length >= MAX_BACKLOG) overflow = true;
        else queue.push(agent);
        wake?.();
      });
      const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
      try {
        while (!ctx.signal.aborted) {
          if (overflow) throw new ConnectError("watcher fell too far behind; reconnect and re-list", Code.ResourceExhausted);
          const next = queue.shift();
          if (next) {
            yield { agent: next };
            continue;
          }
          await Promise.race([new Promise<void>((r) => (wake = r)), aborted]);
          wake = undefined;
        }
      } finally {
        stop();
      }
    },
  };
}
