// Node flags each fleetplane command runs with (plain JavaScript: the
// launcher, bin/fleetplane.mjs, runs before tsx is loaded).

/**
 * agent-service's young generation, MiB per semi-space (Node 20's default on
 * 64-bit is 16). In a distributed rollout its work per moved agent — a pin
 * saved, a pull, an APPLIED report saved, each a protobuf encode or decode
 * and a MongoDB document — is short-lived garbage, and scavenges were ~30 %
 * of its busy time; twice the space halves how often they run, and what
 * survives one is no more (docs/performance.md §33, §35). At most +32 MiB
 * of RSS, and only while it allocates that fast: V8 grows the new space
 * under load and shrinks it when idle. The young generation's size is
 * fixed when V8 starts (v8.setFlagsFromString in the process does nothing
 * to it), hence a flag on node's command line.
 */
export const AGENT_SERVICE_SEMI_SPACE_MB = 32;

const SEMI_SPACE_FLAG = /^--max[-_]semi[-_]space[-_]size(=|$)/;

/**
 * The node flags for `fleetplane <command>`, before the entry point. None
 * when the operator chose the young generation's size themselves (in
 * `execArgv`, node's own arguments, or NODE_OPTIONS): theirs stands. Only
 * agent-service gets one: standalone and the gateways hold many idle
 * agents, whose memory (issue 16) a larger young generation would raise
 * for no gain.
 *
 * @param {string | undefined} command
 * @param {readonly string[]} [execArgv]
 * @param {string | undefined} [nodeOptions]
 * @returns {string[]}
 */
export function nodeFlagsFor(command, execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS) {
  if (command !== "agent-service") return [];
  const chosen = [...execArgv, ...(nodeOptions ?? "").split(/\s+/)].some((a) => SEMI_SPACE_FLAG.test(a));
  return chosen ? [] : [`--max-semi-space-size=${AGENT_SERVICE_SEMI_SPACE_MB}`];
}
