// @fleetplane/command-service: the audit trail of admin commands — the use
// case, its Connect handler, its store port and embedded (LMDB) adapter, and
// its metric. The MongoDB adapter is at "@fleetplane/command-service/mongo",
// so the driver loads only when used.
export { CommandAudit, CommandNotFoundError, InvalidCommandError } from "./domain/command-audit.js";
export type { CommandRepository } from "./domain/command-repository.js";
export { createCommandServiceImpl } from "./command-service-handler.js";
export { createCommandRecorderImpl } from "./command-recorder-handler.js";
export { exposePendingCommands } from "./pending-commands-metric.js";
export { createLmdbCommandRepository } from "./adapters/lmdb-command-repository.js";
