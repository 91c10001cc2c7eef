import { clone } from "@bufbuild/protobuf";
import { CommandKind, ConfigSource, type Agent, type AgentCommand } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentCapabilities, ConnectionSettingsOffersSchema, PackagesAvailableSchema, type ConnectionSettingsOffers, type PackagesAvailable } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { CatalogGroup } from "../fleet/group-precedence.js";
import { hasCapability, supersedeUndelivered, type CommandTransition } from "./agent-model.js";
import { hashesEqual } from "./config-hash.js";
import { applyConnectionSettingsOffer, applyPackageSet } from "./offers.js";

/**
 * A group's connection settings and package offers, given to its agents
 * through the same machinery as an admin's per-agent offers (offers.ts): the
 * offer is stored in the agent's spec with its hash, a command marks it "not
 * yet delivered", the agent's report of the hash settles it.
 *
 * Precedence, like configurations: an agent's own offer (SetConnectionSettings,
 * a signed certificate, SetPackagesAvailable/OfferPackages) wins over its
 * group's and is never replaced by it; otherwise the winning group's offer
 * is the agent's; when its group offers none (or it leaves every group) a
 * group's offer is dropped — an undelivered command is superseded, the agent
 * keeps what it runs. Each of the two offers is decided on its own.
 * Packages go only to agents that accept packages. Each agent gets its own
 * copy of the offer (the catalog's is shared by every agent of the group).
 */

const NO_LONGER_OFFERED = "its group no longer offers it";

type Options = { commandId: () => string; requestedBy: string; now: number };

/** What applying a group's offers did: commands queued (to audit) and older commands superseded. */
export interface GroupOffersOutcome {
  changed: boolean;
  commands: AgentCommand[];
  transitions: CommandTransition[];
}

/** The agent's connection settings are its own (set for it), so no group's apply. */
export function ownsConnectionSettings(agent: Agent): boolean {
  return ownedBy(agent.spec?.connectionSettingsSource, agent.spec?.connectionSettings !== undefined);
}

/** The agent's package offer is its own. */
export function ownsPackages(agent: Agent): boolean {
  return ownedBy(agent.spec?.packagesSource, agent.spec?.packagesAvailable !== undefined);
}

/** NONE with an offer present: stored before groups offered anything, so an admin's. */
const ownedBy = (source: ConfigSource | undefined, present: boolean) => source === ConfigSource.AGENT || ((source ?? ConfigSource.NONE) === ConfigSource.NONE && present);

/** The group's package offer as this agent would get it (none for an agent that does not accept packages). */
function packagesFor(agent: Agent, winner: CatalogGroup | undefined): PackagesAvailable | undefined {
  return winner?.packages && hasCapability(agent, AgentCapabilities.AgentCapabilities_AcceptsPackages) ? winner.packages : undefined;
}

const settingsUpToDate = (agent: Agent, desired: ConnectionSettingsOffers | undefined) =>
  ownsConnectionSettings(agent) ||
  (desired
    ? agent.spec?.connectionSettingsSource === ConfigSource.GROUP && hashesEqual(agent.spec.connectionSettings?.hash, desired.hash)
    : agent.spec?.connectionSettings === undefined);

const packagesUpToDate = (agent: Agent, desired: PackagesAvailable | undefined) =>
  ownsPackages(agent) ||
  (desired
    ? agent.spec?.packagesSource === ConfigSource.GROUP && hashesEqual(agent.spec.packagesAvailable?.allPackagesHash, desired.allPackagesHash)
    : agent.spec?.packagesAvailable === undefined);

/** Whether the agent already has what its group (`winner`, none: no group) offers: nothing to store or send. */
export function groupOffersUpToDate(agent: Agent, winner: CatalogGroup | undefined): boolean {
  return settingsUpToDate(agent, winner?.connectionSettings) && packagesUpToDate(agent, packagesFor(agent, winner));
}

/** Gives the agent its group's offers (see the rules above); nothing changes when it has them. */
export function applyGroupOffers(agent: Agent, winner: CatalogGroup | undefined, options: Options): GroupOffersOutcome {
  const out: GroupOffersOutcome = { changed: false, commands: [], transitions: [] };
  const settings = winner?.connectionSettings;
  if (!settingsUpToDate(agent, settings)) {
    out.changed = true;
    if (settings) {
      const { command, transitions } = applyConnectionSettingsOffer(agent, clone(ConnectionSettingsOffersSchema, settings), ConfigSource.GROUP, { ...options, commandId: options.commandId() });
      out.commands.push(command);
      out.transitions.push(...transitions);
    } else {
      out.transitions.push(...supersedeUndelivered(agent, CommandKind.CONNECTION_SETTINGS_UPDATED, NO_LONGER_OFFERED));
      delete agent.spec!.connectionSettings;
      agent.spec!.connectionSettingsSource = ConfigSource.NONE;
    }
  }
  const packages = packagesFor(agent, winner);
  if (!packagesUpToDate(agent, packages)) {
    out.changed = true;
    if (packages) {
      const { command, transitions } = applyPackageSet(agent, clone(PackagesAvailableSchema, packages), ConfigSource.GROUP, { ...options, commandId: options.commandId() });
      out.commands.push(command);
      out.transitions.push(...transitions);
    } else {
      out.transitions.push(...supersedeUndelivered(agent, CommandKind.PACKAGES_AVAILABLE, NO_LONGER_OFFERED));
      delete agent.spec!.packagesAvailable;
      agent.spec!.packagesSource = ConfigSource.NONE;
    }
  }
  return out;
}
