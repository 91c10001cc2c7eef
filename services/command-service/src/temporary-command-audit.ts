import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openEmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { createLmdbCommandRepository } from "./adapters/lmdb-command-repository.js";
import type { CommandRepository } from "./domain/command-repository.js";

/**
 * For specs: the audit trail's real embedded store (LMDB) in a fresh
 * temporary directory, removed again by `close`. There is no in-memory
 * CommandRepository: the specs exercise the store the standalone server uses.
 */
export function openTemporaryCommandRepository(): { repository: CommandRepository; close(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), "fleetplane-command-audit-"));
  const store = openEmbeddedStore(dir);
  return {
    repository: createLmdbCommandRepository(store),
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
