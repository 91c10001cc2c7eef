import { RemoteConfigState } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import { describe, expect, it } from "vitest";
import { agentsHref, configurationHref, fleetHref, formatAttributeFilter, parseAttributeFilter, parseRoute, rolloutsHref } from "./route.js";

describe("console routes", () => {
  it("round-trips an agent list filter through the URL", () => {
    const filter = { connected: false, healthy: true, state: RemoteConfigState.FAILED, attributes: { "service.name": "a=b", "os.type": "linux" } };
    expect(parseRoute(agentsHref(filter))).toEqual({ page: "agents", filter });
    expect(parseRoute("#/agents")).toEqual({ page: "agents", filter: { attributes: {} } });
  });

  it("knows the detail and audit pages, and shows the overview for anything else", () => {
    expect(parseRoute("#/agents/0193a5b2c3d47e8f9a0b1c2d3e4f5a6b")).toEqual({ page: "agent", uid: "0193a5b2c3d47e8f9a0b1c2d3e4f5a6b" });
    expect(parseRoute("#/audit")).toEqual({ page: "audit" });
    expect(parseRoute("")).toEqual({ page: "overview" });
    expect(parseRoute("#/nowhere")).toEqual({ page: "overview" });
  });

  it("parses attribute filters typed by a person, and says which entry is wrong", () => {
    expect(parseAttributeFilter(" service.name = checkout ,os.type=linux, ")).toEqual({ attributes: { "service.name": "checkout", "os.type": "linux" } });
    expect(parseAttributeFilter("a=1, oops").error).toBe('"oops" is not key=value');
    expect(formatAttributeFilter({ a: "1", b: "2" })).toBe("a=1, b=2");
  });

  it("reads and writes the fleet pages' namespace and diff versions", () => {
    expect(parseRoute("#/groups")).toEqual({ page: "groups", namespace: "default" });
    expect(parseRoute(fleetHref("configurations", "payments"))).toEqual({ page: "configurations", namespace: "payments" });
    expect(parseRoute(configurationHref("payments", "gw", { from: 2, to: 5 }))).toEqual({ page: "configuration", namespace: "payments", name: "gw", from: 2, to: 5 });
    expect(parseRoute(configurationHref("default", "gw"))).toEqual({ page: "configuration", namespace: "default", name: "gw" });
  });

  it("reads and writes the rollouts page's namespace and group", () => {
    expect(parseRoute("#/rollouts")).toEqual({ page: "rollouts", namespace: "default" });
    expect(parseRoute(rolloutsHref("payments", "edge gw"))).toEqual({ page: "rollouts", namespace: "payments", group: "edge gw" });
    expect(parseRoute(rolloutsHref("default"))).toEqual({ page: "rollouts", namespace: "default" });
    expect(parseRoute(fleetHref("rollouts", "team"))).toEqual({ page: "rollouts", namespace: "team" });
  });
});
