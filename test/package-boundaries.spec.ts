import { execFile } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

/**
 * Packages are entered through their front doors (package.json "exports"),
 * never by a path into their source: a package's files can then move without
 * breaking its users. The only sub-entry points are the ones that keep a
 * driver out of processes that do not use it. Generated code is addressed by
 * proto path: that path is the contract.
 */
const SUB_ENTRY_POINTS = ["@fleetplane/platform-node/mongo", "@fleetplane/platform-node/embedded-store", "@fleetplane/platform-node/nats", "@fleetplane/agent-service/mongo", "@fleetplane/command-service/mongo", "@fleetplane/access/mongo"];
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)"(@fleetplane\/[^"]+)"/g;

/** What the core platform package must not depend on: its users (the domain) would load them. */
const HEAVY = [/^mongodb$/, /^lmdb$/, /^@nats-io\//, /^@opentelemetry\//, /^pino/, /^prom-client$/, /^@connectrpc\/connect-node$/];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === "node_modules") return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|tsx|mts|mjs)$/.test(name) ? [path] : [];
  });
}

function deepImports(files: string[]): string[] {
  return files.flatMap((file) =>
    [...readFileSync(file, "utf8").matchAll(SPECIFIER)]
      .map((m) => m[1]!)
      .filter((spec) => spec.split("/").length > 2 && !spec.startsWith("@fleetplane/gen/") && !SUB_ENTRY_POINTS.includes(spec))
      .map((spec) => `${relative(root, file)}: ${spec}`),
  );
}

function manifest(dir: string): { name: string; exports?: Record<string, string>; dependencies?: Record<string, string> } {
  return JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8"));
}

describe("package boundaries", () => {
  it("code outside a package imports it through its front door only", () => {
    const files = ["services", "test", "bench", "chaos", "scripts"].flatMap((dir) => sourceFiles(join(root, dir)));
    expect(files.length).toBeGreaterThan(100);
    expect(deepImports(files)).toEqual([]);
  });

  it("every workspace package but gen exports its front doors, not its source tree", () => {
    const services = readdirSync(join(root, "services")).filter((d) => statSync(join(root, "services", d, "package.json"), { throwIfNoEntry: false }));
    const wildcards = services.map((d) => manifest(join("services", d))).filter((m) => Object.keys(m.exports ?? {}).some((key) => key.includes("*")));
    expect(wildcards.map((m) => m.name)).toEqual([]);
    expect(Object.keys(manifest("gen").exports ?? {})).toContain("./*");
  });

  it("@fleetplane/platform (the ports the domain uses) depends on no driver, bus, telemetry or logging library", () => {
    const dependencies = Object.keys(manifest("services/platform").dependencies ?? {});
    expect(dependencies.filter((d) => HEAVY.some((heavy) => heavy.test(d)))).toEqual([]);
    // What it imports, too: a missing dependency entry would not stop an import of a hoisted package.
    const imported = sourceFiles(join(root, "services/platform/src"))
      .filter((file) => !file.endsWith(".spec.ts"))
      .flatMap((file) => [...readFileSync(file, "utf8").matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)"([^".][^"]*)"/g)].map((m) => `${relative(root, file)}: ${m[1]}`))
      .filter((line) => !/: (node:|@fleetplane\/gen\/)/.test(line));
    expect(imported).toEqual([]);
  });

  it("the fleetplane command loads neither the MongoDB nor the NATS driver until asked to", async () => {
    // A resolve hook in the child process prints every module resolved inside a driver package.
    const hooks = `export async function resolve(s, c, next) { const r = await next(s, c); if (/node_modules\\/(\\.pnpm\\/)?(mongodb|@nats-io)/.test(r.url)) console.log("DRIVER " + r.url); return r; }`;
    const register = `data:text/javascript,${encodeURIComponent(`import { register } from "node:module"; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`)}`;
    const node = (...args: string[]) => promisify(execFile)(process.execPath, ["--import", register, "--import", "tsx", ...args], { cwd: join(root, "test") });
    // --help: every module main.ts imports statically is loaded, no server is started.
    const cli = await node(join(root, "services/fleetplane/src/main.ts"), "--help");
    expect(cli.stdout).toContain("Usage: fleetplane");
    expect(cli.stdout).not.toContain("DRIVER");
    // The hook sees a driver when one is loaded, so the check above can fail.
    const nats = await node("--input-type=module", "-e", `await import("@fleetplane/platform-node/nats");`);
    expect(nats.stdout).toContain("DRIVER");
  });
});
