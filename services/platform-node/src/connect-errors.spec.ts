import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { DependencyUnavailableError } from "@fleetplane/platform";
import { toConnectError } from "./connect-errors.js";

function recordingLogger() {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => void lines.push({ level, fields, message });
  return { lines, logger: { warn: at("warn"), error: at("error"), info: at("info"), debug: at("debug") } as never };
}

describe("toConnectError", () => {
  it("answers Unavailable for a dependency outage, and logs one line per request name and dependency however many requests fail", () => {
    const { lines, logger } = recordingLogger();
    // A request name of this spec's own: the rate limit is process-wide.
    const what = `SpecCall${process.pid}`;
    for (let i = 0; i < 1_000; i++) {
      const ce = toConnectError(new DependencyUnavailableError("MongoDB", { cause: new Error("connection refused") }), logger, what);
      expect(ce.code).toBe(Code.Unavailable);
      expect(ce.rawMessage).toBe(`${what}: MongoDB is unavailable; retry later`);
    }
    toConnectError(new DependencyUnavailableError("NATS", { cause: new Error("closed") }), logger, what);
    expect(lines.map((l) => [l.level, l.fields.dependency, l.message])).toEqual([
      ["warn", "MongoDB", `${what}: dependency unavailable`],
      ["warn", "NATS", `${what}: dependency unavailable`],
    ]);
  });

  it("hides an unexpected error's text from the caller and logs it", () => {
    const { lines, logger } = recordingLogger();
    const ce = toConnectError(new Error("secret internal detail"), logger, "SomeCall", { agent: "a1" });
    expect(ce.code).toBe(Code.Internal);
    expect(ce.rawMessage).toBe("SomeCall failed; see the server log");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "error", fields: { agent: "a1" }, message: "SomeCall failed" });
  });

  it("passes a ConnectError through unchanged", () => {
    const { lines, logger } = recordingLogger();
    const original = new ConnectError("no such agent", Code.NotFound);
    expect(toConnectError(original, logger, "GetAgent")).toBe(original);
    expect(lines).toHaveLength(0);
  });
});
