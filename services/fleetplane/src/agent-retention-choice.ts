import { UsageError, type OptionSpec } from "@fleetplane/platform";

export const AGENT_RETENTION_OPTION: OptionSpec = {
  name: "agent-retention",
  kind: "string",
  description:
    "Agents disconnected longer than this (or never connected since they were made this long ago) are removed, as DeleteAgent would, audited as done by \"retention\": a number with s, m, h or d (e.g. 30d, 12h, 90m); 0 keeps them forever",
  default: "30d",
};

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** --agent-retention in milliseconds (0: keep forever). */
export function agentRetentionOf(v: Record<string, unknown>): number {
  const given = String(v["agent-retention"] ?? AGENT_RETENTION_OPTION.default);
  if (given === "0") return 0;
  const m = /^(\d+)([smhd])$/.exec(given);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : Number.NaN;
  if (!(ms > 0) || !Number.isSafeInteger(ms)) {
    throw new UsageError(`--agent-retention must be a whole number with a unit s, m, h or d (e.g. 30d, 12h, 90m), or 0 to keep agents forever; got "${given}"`);
  }
  return ms;
}
