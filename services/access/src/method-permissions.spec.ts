import { describe, expect, it } from "vitest";
import { METHOD_RULES, ruleOf } from "./method-permissions.js";
import { grants } from "./roles.js";

describe("method rules", () => {
  it("refuses what the table does not name", () => {
    expect(ruleOf("fleetplane.agent.v1.AgentService/NoSuchMethod")).toBeUndefined();
    expect(ruleOf("toString")).toBeUndefined();
    expect(ruleOf("fleetplane.agent.v1.AgentService/GetAgent")).toBe("read");
  });

  it("keeps the gateway's report path and the audit writes internal", () => {
    // Moved out of AgentService, ConnectionService and CommandService into their own internal services.
    for (const m of ["AgentGatewayService/ReportMessages", "AgentGatewayService/PullServerToAgent", "AgentGatewayService/PullServerToAgents", "AgentGatewayService/SaveConnection"]) {
      expect(METHOD_RULES[`fleetplane.agent.v1.${m}`]).toBe("internal");
    }
    expect(METHOD_RULES["fleetplane.command.v1.CommandRecorderService/RecordCommand"]).toBe("internal");
    expect(ruleOf("fleetplane.agent.v1.AgentService/ReportMessages")).toBeUndefined();
  });
});

describe("roles", () => {
  it("a viewer reads but sees no secrets and changes nothing; an operator operates; only an admin administers", () => {
    expect(grants("viewer", "read")).toBe(true);
    expect(grants("viewer", "read-secrets")).toBe(false);
    expect(grants("viewer", "operate")).toBe(false);
    expect(grants("operator", "operate")).toBe(true);
    expect(grants("operator", "administer")).toBe(false);
    expect(grants("admin", "administer")).toBe(true);
  });
});
