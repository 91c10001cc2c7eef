import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import { openEmbeddedStore } from "@fleetplane/platform-node/embedded-store";
import { silentLogger } from "@fleetplane/platform";
import { createLmdbAgentRepository } from "../adapters/lmdb-agent-repository.js";
import type { AgentRepository } from "./agent-repository.js";
import { AgentStore, type AgentStoreOptions } from "./agent-store.js";
import type { CommandAuditPort } from "./command-audit-port.js";

/**
 * For specs: an AgentStore over the real embedded (LMDB) repository in a
 * fresh temporary directory, closed — store first, then the database — when
 * the test ends. `wrap` lets a spec watch what reaches the repository.
 */
export function temporaryAgentStore(
  o: { wrap?: (repository: AgentRepository) => AgentRepository; audit?: CommandAuditPort } & Pick<AgentStoreOptions, "livenessFlushMs" | "livenessWriteMs" | "now"> = {},
): { store: AgentStore; repository: AgentRepository } {
  const embedded = openEmbeddedStore(mkdtempSync(join(tmpdir(), "fleetplane-agents-")));
  const repository = createLmdbAgentRepository(embedded);
  const store = new AgentStore({
    agents: o.wrap ? o.wrap(repository) : repository,
    audit: o.audit ?? { record: async () => {}, transition: async () => {}, recordChange: async () => {}, recent: async () => ({ records: [], complete: true }) },
    logger: silentLogger(),
    ...(o.livenessFlushMs !== undefined ? { livenessFlushMs: o.livenessFlushMs } : {}),
    ...(o.livenessWriteMs !== undefined ? { livenessWriteMs: o.livenessWriteMs } : {}),
    ...(o.now ? { now: o.now } : {}),
  });
  onTestFinished(async () => {
    await store.close();
    await embedded.close();
  });
  return { store, repository };
}
