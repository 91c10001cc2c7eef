import type { AgentConfigMap } from "@fleetplane/gen/opamp/proto/opamp_pb";
import type { Configurations } from "../fleet/configurations.js";
import { configOf } from "../fleet/group-catalog.js";

/** A configuration version as agents receive it: its files and their hash. */
export interface VersionFiles {
  config: AgentConfigMap;
  hash: Uint8Array;
}

/**
 * The files of configuration versions a rollout sends, read once per
 * replica: a version never changes once stored, so nothing is invalidated.
 */
export class VersionFileCache {
  private readonly found = new Map<string, VersionFiles>();

  constructor(private readonly configurations: Pick<Configurations, "getVersion">) {}

  async get(namespace: string, configuration: string, version: number): Promise<VersionFiles> {
    const key = `${namespace}/${configuration}/${version}`;
    let files = this.found.get(key);
    if (!files) {
      files = configOf((await this.configurations.getVersion(namespace, configuration, version)).files);
      this.found.set(key, files);
    }
    return files;
  }
}
