import { CommandKind } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { AgentCapabilities, RemoteConfigStatuses } from "@fleetplane/gen/opamp/proto/opamp_pb";
import { describe, expect, it } from "vitest";
import { capabilityNames, enumLabel, formatTime, uidHex } from "./format.js";

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
