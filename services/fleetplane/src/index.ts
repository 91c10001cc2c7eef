// @fleetplane/server: the composition — the `fleetplane` command (bin) and,
// for tests and embedding, standalone mode started in-process and the table
// of every command's options.
export { startStandalone, type Standalone, type StandaloneOptions } from "./standalone.js";
export { COMMAND_OPTIONS } from "./command-options.js";
