import { create } from "@bufbuild/protobuf";
import { AgentSchema, CommandKind, ConfigSource } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { LabelSelectorSchema } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { AgentCapabilities, RemoteConfigStatuses } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { describe, expect, it } from "vitest";
import { assignmentOf, capabilityNames, enumLabel, formatTime, selectorText, uidHex } from "./format.js";

describe("console formatting", () => {
  it("drops OpAMP's enum type prefixes but keeps our multi-word names", () => {
    expect(enumLabel(RemoteConfigStatuses, RemoteConfigStatuses.RemoteConfigStatuses_APPLIED)).toBe("APPLIED");
    expect(enumLabel(CommandKind, CommandKind.REMOTE_CONFIG_UPDATED)).toBe("REMOTE_CONFIG_UPDATED");
    expect(enumLabel(CommandKind, 99)).toBe("99");
  });

  it("names capability bits", () => {
    const bits = BigInt(AgentCapabilities.AgentCapabilities_ReportsStatus | AgentCapabilities.AgentCapabilities_AcceptsRestartCommand);
    expect(capabilityNames(bits)).toEqual(["ReportsStatus", "AcceptsRestartCommand"]);
    expect(capabilityNames(0n)).toEqual([]);
  });

  it("formats uids and times", () => {
    expect(uidHex(new Uint8Array([0, 1, 255]))).toBe("0001ff");
    expect(formatTime(undefined)).toBe("—");
    expect(formatTime({ $typeName: "google.protobuf.Timestamp", seconds: 1_767_225_600n, nanos: 0 })).toBe("2026-01-01 00:00:00 UTC");
  });
});

describe("fleet configuration in the console", () => {
  it("says why an agent runs what it runs: per-agent, its group, or none", () => {
    const agent = (spec: object) => create(AgentSchema, { spec });
    expect(assignmentOf(agent({ assignment: { source: ConfigSource.GROUP, group: "prod", configuration: "gw", version: 7, tiedWith: ["prod-b"] } }))).toEqual({
      why: "group prod",
      group: "prod",
      version: "gw v7",
      tiedWith: ["prod-b"],
    });
    expect(assignmentOf(agent({ assignment: { source: ConfigSource.AGENT, group: "prod", configuration: "gw", version: 7 } })).why).toBe("per-agent");
    // Stored before assignments existed, with a config: an admin's.
    expect(assignmentOf(agent({ remoteConfig: { data: { hash: new Uint8Array([1]) } } })).why).toBe("per-agent");
    expect(assignmentOf(agent({})).why).toBe("none");
  });

  it("prints selectors on one line", () => {
    const selector = create(LabelSelectorSchema, { matchLabels: { env: "prod" }, matchExpressions: [{ key: "service.name", operator: "In", values: ["a", "b"] }, { key: "canary", operator: "DoesNotExist" }] });
    expect(selectorText(selector)).toBe("env=prod, service.name In (a, b), canary DoesNotExist");
    expect(selectorText(undefined)).toBe("every agent");
  });
});
