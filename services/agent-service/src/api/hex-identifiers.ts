import type { Agent, AgentCommand, Connection } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";

/**
 * Fills the hex twins of the API's identifiers: instance UIDs and config
 * hashes are bytes in agent-service's messages, which proto3 JSON shows as
 * base64, while every request takes them as hex and CommandService shows
 * them as hex. A curl user copies an ID from one answer into the next
 * request: the `…_hex` fields are that ID in the one form used everywhere
 * (32 lowercase hex digits for a UID; lowercase hex for a hash). The bytes
 * stay for binary clients. Applied to every Agent, AgentCommand and
 * Connection an admin API answers with — copies, never what is stored.
 */
export function withHexIdentifiers(agent: Agent): Agent {
  if (agent.metadata) agent.metadata.instanceUidHex = hex(agent.metadata.instanceUid);
  const data = agent.spec?.remoteConfig?.data;
  if (data) data.hashHex = hex(data.hash);
  for (const command of agent.commands) commandWithHex(command);
  return agent;
}

export function commandWithHex(command: AgentCommand): AgentCommand {
  command.configHashHex = hex(command.configHash);
  return command;
}

export function connectionWithHex(connection: Connection): Connection {
  connection.instanceUidHex = hex(connection.instanceUid);
  return connection;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
