import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Plugin } from "esbuild";

/**
 * The gateway worker as JavaScript, made once at start: our TypeScript
 * (the worker's entry and every @fleetplane package it imports) bundled
 * (split into chunks where an import is lazy, so it stays lazy), every other package imported from where it is installed, as
 * Node would resolve it. A worker run through tsx's loader paid ~60 MiB
 * for it (the loader's hooks thread, sources transpiled and kept): 123 MiB
 * before its first agent against 60 MiB as JavaScript, measured on this
 * machine — with six workers, a fifth of the 2 GiB that 100,000 agents
 * must fit in (docs/performance.md §13). The output lives in a temporary
 * directory until `dispose`.
 */
export async function bundleWorker(entry: string): Promise<{ file: string; dispose(): void }> {
  const dir = mkdtempSync(join(tmpdir(), "fleetplane-worker-"));
  const file = join(dir, "gateway-worker-main.mjs");
  try {
    await build({
      entryPoints: [entry],
      outdir: dir,
      outExtension: { ".js": ".mjs" },
      // A dynamic import stays one: its module goes into a chunk of its own,
      // loaded when the import runs. In one file every package a lazy import
      // needs was imported at start — the NATS client in every standalone
      // worker, which never uses it (docs/performance.md §32).
      splitting: true,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      // Resolve as Node does (no bundler-only "module" field or condition):
      // the packages left out are imported by Node at these very paths.
      mainFields: ["main"],
      conditions: [],
      plugins: [installedPackagesByPath],
      logLevel: "silent",
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { file, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Packages other than ours stay out of the bundle (native add-ons such as
 * lmdb's cannot be bundled) and are imported by absolute path, so the
 * bundle needs no node_modules beside it.
 */
const installedPackagesByPath: Plugin = {
  name: "installed-packages-by-path",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.path.startsWith("@fleetplane/") || args.pluginData === "by-path") return undefined;
      if (args.path.startsWith("node:")) return { path: args.path, external: true };
      const resolved = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: "by-path" });
      if (resolved.errors.length > 0 || resolved.external) return { path: args.path, external: true };
      return { path: resolved.path, external: true };
    });
  },
};
