import { mkdirSync, writeFileSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { explainStartupError } from "./startup-errors.js";

function listenError(port: number): Promise<Error> {
  return new Promise((resolve) => {
    const second = createServer();
    second.once("error", resolve);
    second.listen(port, "127.0.0.1");
  });
}

describe("explainStartupError", () => {
  it("names the port flag when the address is taken", async () => {
    const first = createServer();
    await new Promise<void>((r) => first.listen(0, "127.0.0.1", r));
    const port = (first.address() as { port: number }).port;
    try {
      const err = await listenError(port);
      const text = explainStartupError(err, { "opamp-port": port, "api-port": 4321 });
      expect(text).toBe(`cannot listen on 127.0.0.1:${port} (--opamp-port): the address is already in use (is another Fleetplane or program running on it?); choose another with --opamp-port`);
    } finally {
      first.close();
    }
  });

  it("names --data-dir when the directory cannot be made", () => {
    const dir = mkdtempSync(join(tmpdir(), "fleetplane-startup-"));
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    let err: unknown;
    try {
      mkdirSync(join(file, "data"), { recursive: true });
    } catch (e) {
      err = e;
    }
    expect(explainStartupError(err, { "data-dir": join(file, "data") })).toBe(
      `--data-dir ${join(file, "data")}: cannot use it (mkdir ${join(file, "data")}: a part of the path is a file, not a directory); choose a writable directory with --data-dir`,
    );
  });

  it("leaves other errors to the caller", () => {
    expect(explainStartupError(new Error("boom"), { "data-dir": "/x" })).toBeUndefined();
    expect(explainStartupError("text", {})).toBeUndefined();
  });
});
