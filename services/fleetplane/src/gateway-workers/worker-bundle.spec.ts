import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundleWorker } from "./worker-bundle.js";

describe("the gateway worker bundled as JavaScript", () => {
  it("holds our TypeScript as JavaScript, imports other packages by their installed path, and is gone once disposed", async () => {
    const bundle = await bundleWorker(join(import.meta.dirname, "gateway-worker-main.ts"));
    try {
      const code = readFileSync(bundle.file, "utf8");
      const imports = [...code.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]!);
      expect(imports.filter((p) => p.endsWith(".ts") || p.startsWith("@fleetplane/"))).toEqual([]);
      expect(imports.some((p) => p.includes("/node_modules/ws/"))).toBe(true);
      for (const p of imports) if (p.startsWith("/")) expect(existsSync(p), p).toBe(true);
      for (const p of imports) if (p.startsWith("./")) expect(existsSync(join(dirname(bundle.file), p)), p).toBe(true);
    } finally {
      bundle.dispose();
    }
    expect(existsSync(bundle.file)).toBe(false);
  }, 30_000);

  it("keeps a lazy import lazy: the NATS client (distributed only) is not imported when a worker starts", async () => {
    const bundle = await bundleWorker(join(import.meta.dirname, "gateway-worker-main.ts"));
    try {
      const startImports = [...readFileSync(bundle.file, "utf8").matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]!);
      expect(startImports.filter((p) => p.includes("@nats-io"))).toEqual([]);
      const everything = readdirSync(dirname(bundle.file)).map((f) => readFileSync(join(dirname(bundle.file), f), "utf8")).join("\n");
      expect(everything).toMatch(/from "[^"]*@nats-io[^"]*transport-node[^"]*"/);
    } finally {
      bundle.dispose();
    }
  }, 30_000);
});
