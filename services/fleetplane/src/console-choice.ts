import { createConsoleHandler, type ConsoleOidcSettings } from "@fleetplane/console";
import type { WebHandler } from "@fleetplane/platform-node";
import type { Logger, OptionSpec } from "@fleetplane/platform";

export const CONSOLE_OPTION: OptionSpec = {
  name: "console",
  kind: "boolean",
  description: "Serve the web console at / on the admin API port (--no-console or FLEETPLANE_CONSOLE=false turns it off)",
  default: "true",
};

/** The web console's pages for the admin API server, or none when turned off; OIDC sign-in when configured. */
export function consoleWeb(enabled: boolean | undefined, logger: Logger, oidc?: ConsoleOidcSettings): WebHandler | undefined {
  if (enabled === false) return undefined;
  return createConsoleHandler({
    oidc,
    onOidcProblem: (err) => logger.warn({ err: err.message }, "console OIDC sign-in unavailable (the issuer's discovery failed); retried on the next page load, API keys still work"),
    onBuilt: ({ ms, error }) => {
      if (error) logger.error({ err: error, ms }, "web console bundle failed to build; its pages answer 500 until a rebuild succeeds");
      else logger.info({ ms }, "web console bundle built");
    },
  });
}
