import { UsageError } from "@fleetplane/platform";
import { describe, expect, it } from "vitest";
import { ACCESS_CHANNEL } from "@fleetplane/access";
import { REPLICAS_CHANNEL, ROLLOUT_PIN_BATCHES_CHANNEL, ROLLOUT_PINS_CHANNEL } from "@fleetplane/agent-service";
import { gatewayIdOf } from "./gateway-id-choice.js";

describe("--gateway-id", () => {
  it("is taken as given when it can name a bus subject", () => {
    expect(gatewayIdOf("gw-eu_1")).toBe("gw-eu_1");
  });

  it("defaults to an id of the host name and random hex that the same checks accept", () => {
    const id = gatewayIdOf(undefined);
    expect(id).toMatch(/^[A-Za-z0-9_-]+-[0-9a-f]{6}$/);
    expect(gatewayIdOf(id)).toBe(id);
  });

  it("refuses, naming the flag, an id that cannot name a subject and the services' own bus channels", () => {
    for (const bad of ["gw.1", "", "a".repeat(129), ACCESS_CHANNEL, REPLICAS_CHANNEL, ROLLOUT_PINS_CHANNEL, ROLLOUT_PIN_BATCHES_CHANNEL]) {
      expect(() => gatewayIdOf(bad)).toThrow(UsageError);
      expect(() => gatewayIdOf(bad)).toThrow(/^--gateway-id: /);
    }
  });
});
