// @fleetplane/command-service/mongo: the MongoDB adapter of the command
// store. Its own entry point, imported lazily by the composition, so the
// mongodb driver loads only when --mongo-url is given.
export { COMMAND_INDEXES, REPLACED_COMMAND_INDEXES, createMongoCommandRepository, ensureCommandIndexes } from "./adapters/mongo-command-repository.js";
