import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "@fleetplane/platform";
import { describe, expect, it } from "vitest";
import { fail } from "./connect-errors.js";

/** A logger that keeps what it is given (fields and message) instead of writing it. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const keep = (fields: object, msg: string) => void lines.push({ ...fields, msg });
  return { logger: { error: keep, warn: keep, info: keep } as unknown as Logger, lines };
}

describe("a failed request about an agent", () => {
  it("is logged with the agent's instance UID in hex, whatever form the request used", () => {
    const { logger, lines } = capturingLogger();
    const call = (agent?: string | Uint8Array) => {
      try {
        fail(new Error("disk on fire"), logger, "SetRemoteConfig", agent);
      } catch (err) {
        return err as ConnectError;
      }
    };
    expect(call("0193a5b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b")?.code).toBe(Code.Internal);
    call(new Uint8Array(16).fill(0xab));
    call("not-a-uid");
    call();
    expect(lines.map((l) => l.agent)).toEqual(["0193a5b2c3d47e8f9a0b1c2d3e4f5a6b", "ab".repeat(16), "not-a-uid", undefined]);
    expect(lines.every((l) => l.msg === "SetRemoteConfig failed")).toBe(true);
  });
});
