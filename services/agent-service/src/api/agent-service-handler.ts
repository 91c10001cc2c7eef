import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentConfigMapSchema, CustomMessageSchema, type AgentConfigFile } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex } from "@fleetplane/platform/instance-uid";
import { canonicalUid } from "./canonical-uid.js";
import type { Logger } from "@fleetplane/platform/logger";
import { asConnectError, guarded } from "./connect-errors.js";
import { InvalidRequestError } from "../agents/agent-errors.js";
import type { AgentUsecase } from "../agents/agent-usecase.js";
import { isHealthy, remoteConfigStateOf } from "../agents/fleet-summary.js";
import { pageLimit } from "../connections/connection-usecase.js";

/** Bounds the work and memory of one batch call. */
export const MAX_REPORTS_PER_BATCH = 1000;

/** The Connect face of agent-service's AgentService. */
export function createAgentServiceImpl(agents: AgentUsecase, logger: Logger): ServiceImpl<typeof AgentService> {
  const guard = guarded(logger);

  return {
    reportMessage: (req) =>
      guard("ReportMessage", async () => {
        if (!req.connection || !req.message) throw new InvalidRequestError("ReportMessage needs a connection and a message");
        return agents.reportMessage(req.connection, req.message);
      }, req.message?.instanceUid),
    reportMessages: (req) =>
      guard("ReportMessages", async () => {
        if (req.reports.length > MAX_REPORTS_PER_BATCH) throw new InvalidRequestError(`at most ${MAX_REPORTS_PER_BATCH} reports per ReportMessages call, got ${req.reports.length}`);
        const results = await Promise.all(
          req.reports.map(async (r) => {
            try {
              if (!r.connection || !r.message) throw new InvalidRequestError("each report needs a connection and a message");
              return await agents.reportMessage(r.connection, r.message);
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
        const message = await agents.pullServerToAgent(canonicalUid(req.instanceUid), req.connectionId);
        return message ? { message } : {};
      }, req.instanceUid),
    markDisconnected: (req) =>
      guard("MarkDisconnected", async () => ({
        disconnected: await agents.markDisconnected(canonicalUid(req.instanceUid), req.connectionId),
      }), req.instanceUid),
    getAgent: (req) => guard("GetAgent", async () => ({ agent: await agents.getAgent(canonicalUid(req.instanceUid)) }), req.instanceUid),
    listAgents: (req) =>
      guard("ListAgents", async () => {
        const limit = pageLimit(req.pageSize);
        const f = req.filter;
        const where = (a: Agent) =>
          (f?.remoteConfigState === undefined || remoteConfigStateOf(a) === f.remoteConfigState) && (f?.healthy === undefined || isHealthy(a) === f.healthy);
        const found = await agents.listAgents({
          limit: limit + 1,
          ...(req.pageToken ? { after: canonicalUid(req.pageToken) } : {}),
          ...(f?.connected !== undefined ? { connected: f.connected } : {}),
          ...(f && Object.keys(f.attributes).length > 0 ? { attributes: f.attributes } : {}),
          where,
        });
        const page = found.slice(0, limit);
        const last = page[page.length - 1];
        return {
          agents: page,
          nextPageToken: found.length > limit && last ? instanceUidToHex(last.metadata!.instanceUid) : "",
        };
      }),
    getFleetSummary: () => guard("GetFleetSummary", async () => ({ summary: await agents.fleetSummary() })),
    setRemoteConfig: (req) =>
      guard("SetRemoteConfig", async () => {
        const configMap: Record<string, AgentConfigFile> = {};
        for (const [name, file] of Object.entries(req.files)) {
          const body = file.content.case === "text" ? new TextEncoder().encode(file.content.value) : file.content.case === "body" ? file.content.value : undefined;
          if (!body) throw new InvalidRequestError(`remote config file "${name}" has no content (set text or body)`);
          configMap[name] = { $typeName: "opamp.proto.v1.AgentConfigFile", body, contentType: file.contentType };
        }
        const uid = canonicalUid(req.instanceUid);
        const { agent, command, pushed } = await agents.setRemoteConfig(uid, create(AgentConfigMapSchema, { configMap }), req.requestedBy || "anonymous");
        return { agent, commandId: command.id, pushed };
      }, req.instanceUid),
    sendCommand: (req) =>
      guard("SendCommand", async () => {
        const { command, pushed } = await agents.sendCommand(canonicalUid(req.instanceUid), req.kind, req.requestedBy || "anonymous");
        return { command, pushed };
      }, req.instanceUid),
    setConnectionSettings: (req) =>
      guard("SetConnectionSettings", async () => {
        if (!req.offers) throw new InvalidRequestError("SetConnectionSettings needs offers");
        const { agent, command, pushed } = await agents.setConnectionSettings(canonicalUid(req.instanceUid), req.offers, req.requestedBy || "anonymous");
        return { agent, commandId: command.id, pushed };
      }, req.instanceUid),
    setPackagesAvailable: (req) =>
      guard("SetPackagesAvailable", async () => {
        const { agent, command, pushed } = await agents.setPackagesAvailable(canonicalUid(req.instanceUid), req.packages, req.requestedBy || "anonymous");
        return { agent, commandId: command.id, pushed };
      }, req.instanceUid),
    sendCustomMessage: (req) =>
      guard("SendCustomMessage", async () => {
        const message = create(CustomMessageSchema, { capability: req.capability, type: req.type, data: req.data });
        const { command, pushed } = await agents.sendCustomMessage(canonicalUid(req.instanceUid), message, req.requestedBy || "anonymous");
        return { command, pushed };
      }, req.instanceUid),
    async *watchAgents(req, ctx) {
      const only = req.instanceUid ? canonicalUid(req.instanceUid) : undefined;
      const queue: Agent[] = [];
      let wake: (() => void) | undefined;
      const MAX_BACKLOG = 10_000;
      let overflow = false;
      const stop = agents.watch((agent) => {
        if (only && instanceUidToHex(agent.metadata!.instanceUid) !== only) return;
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
