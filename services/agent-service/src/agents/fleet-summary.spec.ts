import { create } from "@bufbuild/protobuf";
import { AgentSchema, RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { describe, expect, it } from "vitest";
import { buildFleetSummary, summaryFieldsOf } from "./fleet-summary.js";

describe("fleet summary", () => {
  it("adds up status groups per state and counts unlisted agent types as other", () => {
    const summary = buildFleetSummary(
      [
        { connected: true, healthy: true, configured: true, configState: RemoteConfigState.APPLIED, count: 3 },
        { connected: false, healthy: true, configured: true, configState: RemoteConfigState.APPLIED, count: 2 },
        { connected: false, healthy: false, configured: false, configState: RemoteConfigState.UNSET, count: 4 },
      ],
      // A database already cut these to the largest groups: 9 - 6 are elsewhere.
      [
        { serviceName: "b", serviceVersion: "1", count: 2 },
        { serviceName: "a", serviceVersion: "1", count: 4 },
      ],
    );
    expect(summary).toMatchObject({ total: 9n, connected: 3n, healthy: 5n, withRemoteConfig: 5n, otherAgentTypes: 3n });
    expect(summary.remoteConfigStates.map((s) => [s.state, s.count])).toEqual([
      [RemoteConfigState.UNSET, 4n],
      [RemoteConfigState.APPLIED, 5n],
    ]);
    expect(summary.agentTypes.map((t) => t.name)).toEqual(["a", "b"]);
  });

  it("reads an agent without status, health or config the way ListAgents' filter does", () => {
    expect(summaryFieldsOf(create(AgentSchema))).toEqual({
      connected: false,
      healthy: false,
      configured: false,
      configState: RemoteConfigState.UNSET,
      serviceName: "",
      serviceVersion: "",
    });
  });
});
