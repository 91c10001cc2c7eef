import type { Group } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import type { AgentConfigMap, ConnectionSettingsOffers, PackagesAvailable } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { hashesEqual } from "../agents/config-hash.js";
import { matchesSelector, type KeyLookup } from "./label-selector.js";

/** A group as agents are matched against it: the group and its version's files, resolved once. */
export interface CatalogGroup {
  group: Group;
  config: AgentConfigMap;
  /** The config_hash of `config` (config-hash.ts). */
  hash: Uint8Array;
  /** The group's connection settings offer, checked and hashed (none: the group offers none). */
  connectionSettings?: ConnectionSettingsOffers;
  /** The group's packages, resolved from the registry and hashed (none: the group offers none). */
  packages?: PackagesAvailable;
}

/** What a namespace's groups say about one agent. */
export interface GroupChoice {
  /** The highest-priority matching group (ties: the name that sorts first); undefined when none matches. */
  winner?: CatalogGroup;
  /** The other matching groups of the winner's priority, in name order. */
  tiedWith: string[];
}

/** Precedence order: higher priority first, then name order, so ties resolve the same on every replica. */
export function byPrecedence(a: Group, b: Group): number {
  return b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/**
 * Which group an agent belongs to. `groups` must be in precedence order
 * (byPrecedence): the first match wins, and only groups of the same
 * priority are looked at after it (to report ties). O(groups).
 */
export function chooseGroup(groups: readonly CatalogGroup[], lookup: KeyLookup): GroupChoice {
  let winner: CatalogGroup | undefined;
  const tiedWith: string[] = [];
  for (const g of groups) {
    if (winner && g.group.priority < winner.group.priority) break;
    if (!matchesSelector(g.group.selector, lookup)) continue;
    if (winner) tiedWith.push(g.group.name);
    else winner = g;
  }
  return winner ? { winner, tiedWith } : { tiedWith };
}

/** Whether two choices give an agent the same thing: group, version, files, ties and offers. */
export function sameChoice(a: GroupChoice, b: GroupChoice): boolean {
  const x = a.winner;
  const y = b.winner;
  if (!x || !y) return x === y && a.tiedWith.join("\n") === b.tiedWith.join("\n");
  return (
    x.group.name === y.group.name &&
    x.group.configuration === y.group.configuration &&
    x.group.configurationVersion === y.group.configurationVersion &&
    hashesEqual(x.hash, y.hash) &&
    sameOffer(x.connectionSettings?.hash, y.connectionSettings?.hash) &&
    sameOffer(x.packages?.allPackagesHash, y.packages?.allPackagesHash) &&
    a.tiedWith.join("\n") === b.tiedWith.join("\n")
  );
}

/** Both absent, or the same hash. */
const sameOffer = (a: Uint8Array | undefined, b: Uint8Array | undefined) => (a === undefined && b === undefined) || hashesEqual(a, b);
