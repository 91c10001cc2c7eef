import { envName, UsageError } from "@fleetplane/platform";

/**
 * Options that were replaced: refuse them with the way forward rather than
 * "unknown option" (a flag) or silence (an environment variable).
 */
const REPLACED_OPTIONS: Record<string, string> = {
  "heartbeat-timeout-seconds": "--heartbeat-missed-intervals (default 3) times the agent's heartbeat interval (offered with --heartbeat-interval-seconds, else --default-heartbeat-interval-seconds, 30)",
  "http-agent-timeout-seconds": "--heartbeat-missed-intervals (default 3) times the agent's polling interval (offered with --heartbeat-interval-seconds, else --default-heartbeat-interval-seconds, 30)",
};

export function refuseReplacedOptions(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  for (const [name, instead] of Object.entries(REPLACED_OPTIONS)) {
    const given = argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`)) ? `--${name}` : env[envName(name)] !== undefined ? envName(name) : undefined;
    if (given) throw new UsageError(`${given} was replaced: an agent is now disconnected after ${instead}`);
  }
}
