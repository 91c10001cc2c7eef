#!/usr/bin/env node
// The two commands a newcomer runs (`npm start`, `npm test`) land here. A fresh
// machine has Node and npm but not pnpm, so this script finds pnpm (or runs the
// pinned version through npx), installs the workspace, then hands over.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pinned = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).packageManager; // "pnpm@x.y.z"

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

const [task, ...rest] = process.argv.slice(2);
const [pnpm, pre] = pnpmCommand();
const pnpmRun = (...args) => run(pnpm, [...pre, ...args]);

console.error(`fleetplane: installing workspace dependencies with ${pinned}…`);
let status = pnpmRun("install", "--frozen-lockfile", "--prefer-offline");
if (status !== 0) {
  console.error("fleetplane: dependency install failed; see the pnpm output above.");
  process.exit(status);
}

switch (task) {
  case "start":
    status = pnpmRun("exec", "tsx", "services/fleetplane/src/main.ts", "standalone", ...rest);
    break;
  case "test":
    status = run("bash", ["scripts/test-all.sh", ...rest]);
    break;
  default:
    console.error(`usage: node scripts/run.mjs start|test [args…]`);
    status = 2;
}
process.exit(status);
