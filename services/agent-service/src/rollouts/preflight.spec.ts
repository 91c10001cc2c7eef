import { create } from "@bufbuild/protobuf";
import { AgentSchema, type Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { describe, expect, it } from "vitest";
import { availableComponents, componentsKeyOf, componentsOfConfig, NO_COMPONENTS, preflight } from "./preflight.js";
import { uidOf } from "./group-agents.js";

const file = (text: string, contentType = "text/yaml") => ({ body: new TextEncoder().encode(text), contentType });
const COLLECTOR = `
receivers:
  otlp:
    protocols: { grpc: {} }
  filelog/app: {}
processors:
  batch:
exporters:
  kafka/primary: {}
connectors:
  count: {}
extensions:
  health_check: {}
service:
  extensions: [health_check, pprof]
  pipelines:
    logs:
      receivers: [filelog/app]
      processors: [batch, memory_limiter]
      exporters: [count]
    metrics:
      receivers: [count, otlp]
      exporters: [kafka/primary, debug]
`;

/** The agent as a preflight judges it. */
const judged = (a: Agent) => ({ uid: uidOf(a), available: availableComponents(a) });

function agentWith(uid: number, components?: Record<string, string[]>): Agent {
  const sub = (types: string[]) => ({ metadata: [], subComponentMap: Object.fromEntries(types.map((t) => [t, { metadata: [], subComponentMap: {} }])) });
  return create(AgentSchema, {
    metadata: { instanceUid: new Uint8Array(16).fill(uid) },
    status: components ? { availableComponents: { hash: new Uint8Array([1]), components: Object.fromEntries(Object.entries(components).map(([k, v]) => [k, sub(v)])) } } : {},
  });
}

describe("preflight", () => {
  it("names every component of every section and every pipeline reference, by type", () => {
    expect(componentsOfConfig({ "": file(COLLECTOR) })).toEqual({
      checked: true,
      components: [
        "connectors/count",
        "exporters/debug",
        "exporters/kafka",
        "extensions/health_check",
        "extensions/pprof",
        "processors/batch",
        "processors/memory_limiter",
        "receivers/filelog",
        "receivers/otlp",
      ],
    });
  });

  it("skips non-YAML versions and says so; reports a YAML file that does not parse, naming it", () => {
    expect(componentsOfConfig({ "agent.json": file("{}", "application/json") })).toEqual({ checked: false, reason: expect.stringContaining("no YAML file") });
    const broken = componentsOfConfig({ "collector.yaml": file("receivers: [unclosed\n", "") });
    expect(broken).toMatchObject({ yamlError: expect.stringContaining('file "collector.yaml" is not valid YAML') });
    expect(preflight(broken, [judged(agentWith(1))]).yamlError).toContain("collector.yaml");
  });

  it("lists agents lacking a component (which), agents that never reported theirs (unknown), and agents that pass", () => {
    const components = componentsOfConfig({ "": file("receivers: { otlp: {} }\nexporters: { kafka: {} }\nservice: { pipelines: { t: { receivers: [otlp], exporters: [kafka] } } }\n") });
    const full = agentWith(1, { receivers: ["otlp"], exporters: ["kafka", "debug"] });
    const lacking = agentWith(2, { receivers: ["otlp"], exporters: ["debug"] });
    const silent = agentWith(3);
    const result = preflight(components, [full, lacking, silent].map(judged));
    const hex = (n: number) => Buffer.alloc(16, n).toString("hex");
    expect(result.passed).toEqual([hex(1)]);
    expect(result.missing).toEqual([expect.objectContaining({ instanceUid: hex(2), missingComponents: ["exporters/kafka"] })]);
    expect(result.unknown).toEqual([hex(3)]);
    expect(result.reason).toContain("exporters/kafka");
  });

  it("reads an agent's reported components as kind/type; a hash alone is unknown", () => {
    expect(availableComponents(agentWith(1, { receivers: ["otlp", "nop"] }))).toEqual(new Set(["receivers/otlp", "receivers/nop"]));
    expect(availableComponents(create(AgentSchema, { status: { availableComponents: { hash: new Uint8Array([1]), components: {} } } }))).toBeUndefined();
  });

  it("keys an agent's components by what it reported, not by the hash it reported them under", () => {
    const otlp = componentsKeyOf(agentWith(1, { receivers: ["otlp"] }));
    expect(otlp).toMatch(/^[0-9a-f]{32}$/);
    expect(componentsKeyOf(agentWith(2, { receivers: ["otlp"] }))).toBe(otlp);
    // The same hash ([1]: agentWith's) over other components: another key.
    expect(componentsKeyOf(agentWith(1, { receivers: ["otlp", "nop"] }))).not.toBe(otlp);
    expect(componentsKeyOf(agentWith(1, { receivers: [], exporters: [] }))).not.toBe(componentsKeyOf(agentWith(1, { receivers: [] })));
    expect(componentsKeyOf(agentWith(1))).toBe(NO_COMPONENTS);
    expect(componentsKeyOf(create(AgentSchema, { status: { availableComponents: { hash: new Uint8Array([1]), components: {} } } }))).toBe(NO_COMPONENTS);
  });
});
