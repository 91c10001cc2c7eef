// `npm start` on a fresh machine: authentication is on, and the first start
// of an empty store on loopback prints an admin key once — on the terminal
// banner, never in the JSON log.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { AccessService } from "@fleetplane/gen/fleetplane/access/v1/access_service_pb";
import { bearer } from "./support/admin-key.js";
import { stopChild } from "./support/child-process.js";

const MAIN = join(import.meta.dirname, "..", "services", "fleetplane", "src", "main.ts");

/** Starts standalone on `dataDir`; resolves with the banner's API URL and key (if any) and everything logged. */
async function start(dataDir: string) {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "standalone", "--opamp-port", "0", "--api-port", "0", "--data-dir", dataDir, "--no-console"], { stdio: ["ignore", "pipe", "pipe"] });
  const log: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => log.push(l));
  const banner = await new Promise<{ api: string; key: string | undefined }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("standalone did not start")), 30_000);
    let api = "";
    let key: string | undefined;
    createInterface({ input: child.stderr! }).on("line", (line) => {
      api = /Admin API:\s+(\S+)/.exec(line)?.[1] ?? api;
      key = /Admin key:\s+(\S+)/.exec(line)?.[1] ?? key;
      if (/^\s+Data:/.test(line)) {
        clearTimeout(timer);
        resolve({ api, key });
      }
    });
  });
  return { ...banner, log, stop: () => stopChild(child, "SIGTERM", 20_000) };
}

describe("the first start of standalone on loopback", () => {
  it("prints an admin key once, on the banner only, and the next start prints none", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "fleetplane-first-key-"));
    const first = await start(dataDir);
    try {
      expect(first.key).toMatch(/^fpk_/);
      const who = await createClient(AccessService, createConnectTransport({ baseUrl: first.api, httpVersion: "1.1", interceptors: [bearer(first.key!)] })).whoAmI({});
      expect(who.permissions).toContain("administer");
      expect(first.log.join("\n")).toContain("a first admin API key was made");
      expect(first.log.join("\n")).not.toContain(first.key!.slice("fpk_".length + 17)); // the secret, after fpk_<id>_
    } finally {
      await first.stop();
    }
    const second = await start(dataDir);
    try {
      expect(second.key).toBeUndefined();
      await expect(createClient(AccessService, createConnectTransport({ baseUrl: second.api, httpVersion: "1.1" })).whoAmI({})).rejects.toMatchObject({ code: 16 });
    } finally {
      await second.stop();
    }
  });
});
