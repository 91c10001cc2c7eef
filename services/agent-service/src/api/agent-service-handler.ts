import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { AgentService } from "@fleetplane/gen/fleetplane/agent/v1/agent_service_pb";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentConfigMapSchema, CustomMessageSchema, type AgentConfigFile } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { instanceUidToHex, type Logger, fetchLimit, pageLimit, toPage } from "@fleetplane/platform";
import { canonicalUid } from "./canonical-uid.js";
import { guarded } from "./connect-errors.js";
import { InvalidRequestError } from "../agents/agent-errors.js";
import { namespaceOf } from "../agents/agent-namespace.js";
import type { AdminCommands } from "../agents/admin-commands.js";
import type { AgentStore } from "../agents/agent-store.js";
import { isHealthy, remoteConfigStateOf } from "../agents/fleet-summary.js";
import { requesterOf } from "./requested-by.js";
import { requestNamespace } from "../fleet/resource-names.js";
import { withoutConfigurationSecrets } from "./configuration-secrets.js";
import { callerMay } from "@fleetplane/access";

/** The parts of the agents' side that the admin AgentService serves. */
export interface AgentServiceParts {
  store: AgentStore;
  commands: AdminCommands;
}

/** The admin face of agent-service's AgentService (gateways call AgentGatewayService). */
export function createAgentServiceImpl({ store, commands }: AgentServiceParts, logger: Logger): ServiceImpl<typeof AgentService> {
  const guard = guarded(logger);

  return {
    getAgent: (req, ctx) =>
      guard("GetAgent", async () => {
        const agent = await store.getAgent(canonicalUid(req.instanceUid), requestNamespace(req.namespace));
        return { agent: callerMay(ctx, "read-secrets") ? agent : withoutConfigurationSecrets(agent) };
      }, req.instanceUid),
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
        // Never configuration bodies in a list, whoever asks: lists end up in logs, caches and screenshots.
        return { agents: page.map(withoutConfigurationSecrets), nextPageToken };
      }),
    getFleetSummary: (req) => guard("GetFleetSummary", async () => ({ summary: await store.fleetSummary(requestNamespace(req.namespace)) })),
    setRemoteConfig: (req, ctx) =>
      guard("SetRemoteConfig", async () => {
        const configMap: Record<string, AgentConfigFile> = {};
        for (const [name, file] of Object.entries(req.files)) {
          const body = file.content.case === "text" ? new TextEncoder().encode(file.content.value) : file.content.case === "body" ? file.content.value : undefined;
          if (!body) throw new InvalidRequestError(`remote config file "${name}" has no content (set text or body)`);
          configMap[name] = { $typeName: "opamp.proto.v1.AgentConfigFile", body, contentType: file.contentType };
        }
        const uid = canonicalUid(req.instanceUid);
        const { agent, command, pushed } = await commands.setRemoteConfig(uid, create(AgentConfigMapSchema, { configMap }), requesterOf(ctx), requestNamespace(req.namespace));
        return { agent, commandId: command.id, pushed };
      }, req.instanceUid),
    sendCommand: (req, ctx) =>
      guard("SendCommand", async () => {
        const { command, pushed } = await commands.sendCommand(canonicalUid(req.instanceUid), req.kind, requesterOf(ctx), requestNamespace(req.namespace));
        return { command, pushed };
      }, req.instanceUid),
    setConnectionSettings: (req, ctx) =>
      guard("SetConnectionSettings", async () => {
        if (!req.offers) throw new InvalidRequestError("SetConnectionSettings needs offers");
        const { agent, command, pushed } = await commands.setConnectionSettings(canonicalUid(req.instanceUid), req.offers, requesterOf(ctx), requestNamespace(req.namespace));
        return { agent, commandId: command.id, pushed };
      }, req.instanceUid),
    setPackagesAvailable: (req, ctx) =>
      guard("SetPackagesAvailable", async () => {
        const { agent, command, pushed } = await commands.setPackagesAvailable(canonicalUid(req.instanceUid), req.packages, requesterOf(ctx), requestNamespace(req.namespace));
        return { agent, commandId: command.id, pushed };
      }, req.instanceUid),
    sendCustomMessage: (req, ctx) =>
      guard("SendCustomMessage", async () => {
        const message = create(CustomMessageSchema, { capability: req.capability, type: req.type, data: req.data });
        const { command, pushed } = await commands.sendCustomMessage(canonicalUid(req.instanceUid), message, requesterOf(ctx), requestNamespace(req.namespace));
        return { command, pushed };
      }, req.instanceUid),
    setAgentLabels: (req, ctx) =>
      guard("SetAgentLabels", async () => {
        const { agent, commandId, pushed } = await commands.setLabels(canonicalUid(req.instanceUid), req.labels, requesterOf(ctx), requestNamespace(req.namespace));
        return { agent, commandId, pushed };
      }, req.instanceUid),
    clearRemoteConfig: (req, ctx) =>
      guard("ClearRemoteConfig", async () => {
        const { agent, commandId, pushed } = await commands.clearRemoteConfig(canonicalUid(req.instanceUid), requesterOf(ctx), requestNamespace(req.namespace));
        return { agent, commandId, pushed };
      }, req.instanceUid),
    deleteAgent: (req, ctx) =>
      guard("DeleteAgent", async () => {
        const { commandId, connectionClosed } = await commands.deleteAgent(canonicalUid(req.instanceUid), requesterOf(ctx), requestNamespace(req.namespace), req.force);
        return { commandId, connectionClosed };
      }, req.instanceUid),
    async *watchAgents(req, ctx) {
      const only = req.instanceUid ? canonicalUid(req.instanceUid) : undefined;
      const namespace = requestNamespace(req.namespace);
      const shown = callerMay(ctx, "read-secrets") ? (a: Agent) => a : withoutConfigurationSecrets;
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
            yield { agent: shown(next) };
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
