import { create } from "@bufbuild/protobuf";
import {
  AgentCapabilities,
  AgentDescriptionSchema,
  ComponentHealthSchema,
  EffectiveConfigSchema,
  type AgentDescription,
  type ComponentHealth,
  type EffectiveConfig,
} from "@fleetplane/gen/opamp/proto/opamp_pb";

/** What a simulated agent says about itself: shaped like an OpenTelemetry Collector. */
export const SIM_CAPABILITIES = BigInt(
  AgentCapabilities.AgentCapabilities_ReportsStatus |
    AgentCapabilities.AgentCapabilities_AcceptsRemoteConfig |
    AgentCapabilities.AgentCapabilities_ReportsEffectiveConfig |
    AgentCapabilities.AgentCapabilities_ReportsRemoteConfig |
    AgentCapabilities.AgentCapabilities_ReportsHealth |
    AgentCapabilities.AgentCapabilities_ReportsHeartbeat |
    AgentCapabilities.AgentCapabilities_AcceptsRestartCommand,
);

const str = (key: string, value: string) => ({ key, value: { value: { case: "stringValue" as const, value } } });

export function agentDescription(index: number, uidHex: string): AgentDescription {
  return create(AgentDescriptionSchema, {
    identifyingAttributes: [str("service.name", "otelcol-sim"), str("service.namespace", `team-${index % 20}`), str("service.version", index % 10 === 0 ? "0.119.0" : "0.120.0"), str("service.instance.id", uidHex)],
    nonIdentifyingAttributes: [str("os.type", "linux"), str("host.arch", "amd64"), str("host.name", `sim-host-${Math.floor(index / 8)}`), str("deployment.environment", index % 3 === 0 ? "staging" : "production")],
  });
}

export const INITIAL_CONFIG = `receivers:
  otlp:
    protocols:
      grpc: {}
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
`;

export function effectiveConfig(body: Uint8Array): EffectiveConfig {
  return create(EffectiveConfigSchema, { configMap: { configMap: { "": { body, contentType: "text/yaml" } } } });
}

export function health(startedAtNs: bigint, nowNs: bigint): ComponentHealth {
  return create(ComponentHealthSchema, {
    healthy: true,
    startTimeUnixNano: startedAtNs,
    statusTimeUnixNano: nowNs,
    status: "StatusOK",
    componentHealthMap: {
      "pipeline:traces": { healthy: true, startTimeUnixNano: startedAtNs, statusTimeUnixNano: nowNs, status: "StatusOK" },
    },
  });
}
