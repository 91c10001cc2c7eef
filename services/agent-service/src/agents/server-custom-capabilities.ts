import { create } from "@bufbuild/protobuf";
import { CustomCapabilitiesSchema, type CustomCapabilities } from "@fleetplane/gen/opamp/proto/opamp_pb";

/**
 * The spec's form of a custom capability: a reverse FQDN naming its author
 * and the capability ("com.example.pause"), optionally a version after a
 * slash ("com.example.pause/v2").
 */
const CAPABILITY_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+(\/[A-Za-z0-9._-]+)?$/;

export class InvalidCustomCapabilityError extends Error {
  constructor(readonly capability: string) {
    super(`"${capability}" is not a custom capability name: use a reverse FQDN with an optional version, e.g. com.example.pause or com.example.pause/v2`);
    this.name = "InvalidCustomCapabilityError";
  }
}

/**
 * The custom capabilities this server declares to agents
 * (ServerToAgent.custom_capabilities), from a comma-separated list; an empty
 * list declares none. Built once, so a reply that carries it costs no work.
 */
export function serverCustomCapabilities(list: string): CustomCapabilities | undefined {
  const names = [...new Set(list.split(",").map((n) => n.trim()).filter((n) => n !== ""))];
  for (const name of names) if (!CAPABILITY_NAME.test(name)) throw new InvalidCustomCapabilityError(name);
  return names.length > 0 ? create(CustomCapabilitiesSchema, { capabilities: names }) : undefined;
}
