import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CommandKind, ConfigSource, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { GroupSchema } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { AgentCapabilities, ConnectionSettingsOffersSchema, PackageAvailableSchema, PackageType } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { configOf } from "../fleet/group-catalog.js";
import type { CatalogGroup } from "../fleet/group-precedence.js";
import { newAgent, pendingCommands } from "./agent-model.js";
import { applyGroupOffers, groupOffersUpToDate } from "./group-offers.js";
import { applyConnectionSettings, connectionSettingsOffer, packagesOffer } from "./offers.js";

const settings = (url: string) => connectionSettingsOffer(create(ConnectionSettingsOffersSchema, { ownMetrics: { destinationEndpoint: url } }));
const packages = (version: string) =>
  packagesOffer({ agent: create(PackageAvailableSchema, { type: PackageType.PackageType_TopLevel, version, file: { downloadUrl: `https://pkgs.example/${version}.tgz` } }) });

function group(offers: Partial<Pick<CatalogGroup, "connectionSettings" | "packages">>): CatalogGroup {
  return { group: create(GroupSchema, { namespace: "default", name: "g" }), ...configOf({ "": { body: new Uint8Array([1]), contentType: "" } }), ...offers };
}

function agent(acceptsPackages = true): Agent {
  const a = newAgent(new Uint8Array(16).fill(2), 0);
  a.metadata!.capabilities = acceptsPackages ? BigInt(AgentCapabilities.AgentCapabilities_AcceptsPackages) : 0n;
  return a;
}

let ids = 0;
const options = { now: 1, commandId: () => `cmd-${++ids}`, requestedBy: "group default/g" };

describe("a group's offers", () => {
  it("become the agent's, marked as the group's, each with a command; the same group again changes nothing", () => {
    const a = agent();
    const g = group({ connectionSettings: settings("https://group"), packages: packages("1") });
    const out = applyGroupOffers(a, g, options);
    expect(out.commands.map((c) => c.kind)).toEqual([CommandKind.CONNECTION_SETTINGS_UPDATED, CommandKind.PACKAGES_AVAILABLE]);
    expect(a.spec).toMatchObject({ connectionSettingsSource: ConfigSource.GROUP, packagesSource: ConfigSource.GROUP });
    expect(groupOffersUpToDate(a, g)).toBe(true);
    expect(applyGroupOffers(a, g, options)).toMatchObject({ changed: false, commands: [] });
  });

  it("an agent's own offer wins over its group's and is never replaced or dropped by it", () => {
    const a = agent();
    applyConnectionSettings(a, settings("https://own"), { commandId: "own", requestedBy: "admin", now: 1 });
    const g = group({ connectionSettings: settings("https://group") });
    expect(groupOffersUpToDate(a, g)).toBe(true);
    applyGroupOffers(a, g, options);
    applyGroupOffers(a, undefined, options);
    expect(a.spec!.connectionSettings!.ownMetrics!.destinationEndpoint).toBe("https://own");
  });

  it("leaving the group drops its offers and supersedes what was not delivered", () => {
    const a = agent();
    applyGroupOffers(a, group({ connectionSettings: settings("https://group"), packages: packages("1") }), options);
    const out = applyGroupOffers(a, undefined, options);
    expect(out.transitions.map((t) => t.to)).toEqual(["superseded", "superseded"]);
    expect(a.spec!.connectionSettings).toBeUndefined();
    expect(a.spec!.packagesAvailable).toBeUndefined();
    expect(pendingCommands(a)).toEqual([]);
  });

  it("packages go only to agents that accept them", () => {
    const a = agent(false);
    const out = applyGroupOffers(a, group({ packages: packages("1") }), options);
    expect(out.changed).toBe(false);
    expect(a.commands.some((c) => c.kind === CommandKind.PACKAGES_AVAILABLE)).toBe(false);
  });
});
