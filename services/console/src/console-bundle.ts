import { build } from "esbuild";
import { createHash } from "node:crypto";
import { join } from "node:path";

/** One file of the built console, ready to serve. */
export interface ConsoleAsset {
  contentType: string;
  body: Uint8Array;
  /** Strong ETag over the body, so browsers revalidate cheaply. */
  etag: string;
}

const UI_ENTRY = join(import.meta.dirname, "ui", "main.tsx");

/**
 * Bundles the console's browser code (src/ui) with esbuild, in memory: the
 * server serves what its own source says, so there is no build step to
 * forget and nothing stale on disk. Takes a fraction of a second.
 * Keys are URL paths: /assets/app.js and /assets/app.css.
 */
export async function buildConsoleBundle(): Promise<Map<string, ConsoleAsset>> {
  const result = await build({
    entryPoints: { app: UI_ENTRY },
    bundle: true,
    write: false,
    outdir: "/assets",
    format: "esm",
    target: "es2022",
    platform: "browser",
    minify: true,
    jsx: "automatic",
    jsxImportSource: "preact",
    legalComments: "none",
    logLevel: "silent",
  });
  const assets = new Map<string, ConsoleAsset>();
  for (const file of result.outputFiles) {
    const contentType = file.path.endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8";
    assets.set(file.path, { contentType, body: file.contents, etag: etagOf(file.contents) });
  }
  return assets;
}

export function etagOf(body: Uint8Array): string {
  return `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
}
