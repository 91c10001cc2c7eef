import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openEmbeddedStore, type EmbeddedStore } from "./embedded-store.js";

/** The process's memory maps of `file` (from /proc/self/maps). */
function mapsOf(file: string): string[] {
  return readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => l.endsWith(` ${file}`));
}

describe("the embedded store", () => {
  let dir: string | undefined;
  let store: EmbeddedStore | undefined;
  afterEach(async () => {
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.runIf(process.platform === "linux")("keeps its file in one memory map as it grows (each map's pages count in RSS)", async () => {
    dir = mkdtempSync(join(tmpdir(), "fp-embedded-store-"));
    store = openEmbeddedStore(dir);
    const db = store.openDB<Buffer, number>({ name: "grows", encoding: "binary" });
    // ~24 MiB: past lmdb-js's own first maps (it starts near 1 MiB and doubles), so without a
    // map size set at open the file is mapped again several times while this runs.
    for (let batch = 0; batch < 8; batch++) {
      for (let i = 0; i < 4_000; i++) void db.put(batch * 4_000 + i, randomBytes(750));
      await db.put(-1, Buffer.alloc(1));
    }
    expect(db.getCount()).toBe(32_001);
    expect(mapsOf(join(dir, "fleetplane.mdb"))).toHaveLength(1);
  });
});
