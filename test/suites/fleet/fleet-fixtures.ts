import { randomUUID } from "node:crypto";
import type { TestTopology } from "../../support/topology.js";

/**
 * Every test makes its own names and its own selector value, so the groups of
 * one test never match the agents of another (all agents join "default").
 */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export const yaml = (text: string) => ({ "": { body: new TextEncoder().encode(text), contentType: "text/yaml" } });

/** A configuration with one version per text, in `namespace`. */
export async function configurationWith(t: TestTopology, name: string, texts: string[], namespace = ""): Promise<void> {
  await t.configurations.createConfiguration({ namespace, name, files: yaml(texts[0]!), message: "first" });
  for (const text of texts.slice(1)) await t.configurations.createConfigurationVersion({ namespace, name, files: yaml(text), message: "next" });
}

/** A group selecting agents whose `service.name` is `service`. */
export function groupFor(name: string, service: string, configuration: string, version: number, priority = 0, namespace = "") {
  return { namespace, name, priority, configuration, configurationVersion: version, selector: { matchLabels: { "service.name": service } } };
}

export const bodyOf = (m: { remoteConfig?: { config?: { configMap: Record<string, { body: Uint8Array }> } } } | undefined) =>
  m?.remoteConfig ? new TextDecoder().decode(m.remoteConfig.config!.configMap[""]!.body) : undefined;
