import { clone, create } from "@bufbuild/protobuf";
import { AgentSchema, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { ConnectionSettingsOffersSchema, type AgentConfigMap } from "@fleetplane/gen/opamp/proto/opamp_pb";

/**
 * The agent without what may hold secrets: the bodies of its assigned and
 * effective configurations (a collector configuration carries passwords and
 * tokens) and the connection settings offered to it (certificates, private
 * keys, headers). File names, content types and hashes stay, so a viewer
 * still sees what changed. ListAgents always answers this way; GetAgent and
 * WatchAgents do for callers without the "read-secrets" permission.
 */
export function withoutConfigurationSecrets(agent: Agent): Agent {
  const out = clone(AgentSchema, agent);
  emptyBodies(out.spec?.remoteConfig?.data?.config);
  emptyBodies(out.status?.effectiveConfig?.configMap);
  if (out.spec?.connectionSettings) out.spec.connectionSettings = create(ConnectionSettingsOffersSchema, { hash: out.spec.connectionSettings.hash });
  return out;
}

function emptyBodies(config: AgentConfigMap | undefined): void {
  for (const file of Object.values(config?.configMap ?? {})) file.body = new Uint8Array(0);
}
