import type { Logger } from "@fleetplane/platform";
import { pino } from "pino";

/**
 * Structured JSON logs on stdout. Every service names itself in `service`;
 * lines about an agent carry `agent` (the instance UID in hex) so one agent's
 * story can be grepped across services.
 */
export function createLogger(service: string, level: string = process.env.FLEETPLANE_LOG_LEVEL ?? "info"): Logger {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
