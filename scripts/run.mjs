#!/usr/bin/env node
// The two commands a newcomer runs (`npm start`, `npm test`) land here. A fresh
// machine has Node and npm but not pnpm, so this script finds pnpm (or runs the
// pinned version through npx), installs the workspace when it changed, then
// hands over.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pinned = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).packageManager; // "pnpm@x.y.z"
const stampFile = join(root, "node_modules", ".fleetplane-install-stamp");

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function pnpmCommand() {
  const version = pinned.split("@")[1];
  const found = spawnSync("pnpm", ["--version"], { encoding: "utf8" });
  if (found.status === 0 && found.stdout.trim() === version) return ["pnpm", []];
  return ["npx", ["-y", pinned]];
}

/**
 * What an install depends on: the lockfile, every workspace manifest and the
 * Node version. When it matches the stamp of the last successful install,
 * `pnpm install` would change nothing, and skipping it saves seconds on every
 * start.
 */
function installInputs() {
  const hash = createHash("sha256").update(process.version);
  const files = ["package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml", "gen/package.json", "test/package.json", "bench/package.json", "chaos/package.json"];
  for (const dir of readdirSync(join(root, "services"))) files.push(join("services", dir, "package.json"));
  for (const f of files.sort()) {
    const path = join(root, f);
    hash.update(f).update(existsSync(path) ? readFileSync(path) : "");
  }
  return hash.digest("hex");
}

const [task, ...rest] = process.argv.slice(2);
if (task !== "start" && task !== "test") {
  console.error(`usage: node scripts/run.mjs start|test [args…]`);
  process.exit(2);
}

const inputs = installInputs();
if (!existsSync(stampFile) || readFileSync(stampFile, "utf8") !== inputs) {
  const [pnpm, pre] = pnpmCommand();
  console.error(`fleetplane: installing workspace dependencies with ${pinned}…`);
  const status = run(pnpm, [...pre, "install", "--frozen-lockfile", "--prefer-offline"]);
  if (status !== 0) {
    console.error("fleetplane: dependency install failed; see the pnpm output above.");
    process.exit(status);
  }
  writeFileSync(stampFile, inputs);
}

if (task === "test") process.exit(run("bash", ["scripts/test-all.sh", ...rest]));

// The server runs as a direct child (node with tsx's loader, no pnpm or tsx
// CLI wrapper between), so a signal reaches it once and shutdown is
// graceful. A signal sent to this process alone (Docker, `kill <pid>`) is
// passed on; this process then waits for the server and exits as it did.
const child = spawn(process.execPath, ["--import", "tsx", "services/fleetplane/src/main.ts", "standalone", ...rest], { cwd: root, stdio: "inherit" });
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(signal, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
}
child.on("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
