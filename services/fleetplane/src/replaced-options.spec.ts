import { describe, expect, it } from "vitest";
import { UsageError } from "@fleetplane/platform";
import { refuseReplacedOptions } from "./replaced-options.js";

describe("replaced options", () => {
  it("are refused, as flags or environment variables, with what to use instead", () => {
    expect(() => refuseReplacedOptions(["--heartbeat-timeout-seconds", "90"], {})).toThrow(/--heartbeat-missed-intervals/);
    expect(() => refuseReplacedOptions(["--http-agent-timeout-seconds=5"], {})).toThrow(UsageError);
    expect(() => refuseReplacedOptions([], { FLEETPLANE_HTTP_AGENT_TIMEOUT_SECONDS: "90" })).toThrow(/FLEETPLANE_HTTP_AGENT_TIMEOUT_SECONDS was replaced/);
    expect(() => refuseReplacedOptions(["--heartbeat-missed-intervals", "3"], { FLEETPLANE_PORT: "1" })).not.toThrow();
  });
});
