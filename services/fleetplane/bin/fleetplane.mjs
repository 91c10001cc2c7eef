#!/usr/bin/env node
// Runs the TypeScript entry point through tsx (no build step), with the node
// flags the command runs with (node-flags.mjs). The child gets the signals
// this process gets (a supervisor may signal only the pid it started) and
// this process ends as it ends.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeFlagsFor } from "./node-flags.mjs";
const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const child = spawn(process.execPath, [...nodeFlagsFor(args[0]), "--import", "tsx", join(here, "../src/main.ts"), ...args], { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.once("exit", (code, signal) => process.exit(code ?? (signal ? 128 + ({ SIGINT: 2, SIGHUP: 1, SIGKILL: 9, SIGTERM: 15 }[signal] ?? 1) : 1)));
