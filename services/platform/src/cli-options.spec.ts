import { describe, expect, it } from "vitest";
import { formatHelp, parseOptions, type OptionSpec } from "./cli-options.js";

const specs: OptionSpec[] = [
  { name: "opamp-port", kind: "number", description: "OpAMP port", default: "4320" },
  { name: "data-dir", kind: "string", description: "Where data lives" },
  { name: "gzip", kind: "boolean", description: "Compress", default: "false" },
];

describe("parseOptions", () => {
  it("takes flags over environment variables over defaults", () => {
    const env = { FLEETPLANE_OPAMP_PORT: "5000", FLEETPLANE_DATA_DIR: "/env" };
    expect(parseOptions(specs, [], env).values).toEqual({ "opamp-port": 5000, "data-dir": "/env", gzip: false });
    expect(parseOptions(specs, ["--opamp-port", "6000", "--gzip"], env).values).toMatchObject({ "opamp-port": 6000, gzip: true });
  });

  it("turns a boolean that defaults to true off with --no-<name> or its variable", () => {
    const on: OptionSpec[] = [{ name: "console", kind: "boolean", description: "Serve the console", default: "true" }];
    expect(parseOptions(on, [], {}).values.console).toBe(true);
    expect(parseOptions(on, ["--no-console"], {}).values.console).toBe(false);
    expect(parseOptions(on, [], { FLEETPLANE_CONSOLE: "false" }).values.console).toBe(false);
    expect(parseOptions(on, ["--console"], { FLEETPLANE_CONSOLE: "false" }).values.console).toBe(true);
    expect(formatHelp("x", "y", on)).toContain("--[no-]console");
  });

  it("names the flag and its variable when a value is wrong", () => {
    expect(() => parseOptions(specs, ["--opamp-port", "many"], {})).toThrow(/--opamp-port \(or FLEETPLANE_OPAMP_PORT\) must be a number/);
    expect(() => parseOptions(specs, ["--nope"], {})).toThrow(/see --help/);
  });

  it("documents every option with its variable and default", () => {
    const help = formatHelp("fleetplane x", "Does x.", specs);
    expect(help).toContain("--opamp-port <number>");
    expect(help).toContain("env: FLEETPLANE_DATA_DIR");
    expect(help).toContain("(default: 4320)");
  });
});
