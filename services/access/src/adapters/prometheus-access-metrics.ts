import { Code, ConnectError } from "@connectrpc/connect";
import { metricsRegistry } from "@fleetplane/platform-node";
import { Counter, Gauge } from "prom-client";
import type { CredentialCacheOptions } from "../credential-cache.js";
import type { OpenStreamsOptions } from "../open-streams.js";

// Registered once per process (tests run several servers in one): each server's figures add up.
const cacheReads = new Counter({
  name: "fleetplane_admin_credential_reads_total",
  help: "API key and role binding look-ups of the admin API: served from the credential cache (hit) or read from the store (miss)",
  labelNames: ["result"],
  registers: [metricsRegistry],
});
const streamsOpen = new Gauge({
  name: "fleetplane_admin_streams_open",
  help: "Admin API server streams (WatchAgents…) open and watched for their caller's credential",
  registers: [metricsRegistry],
});
const streamsEnded = new Counter({
  name: "fleetplane_admin_streams_ended_total",
  help: "Admin API server streams ended because their caller's credential was revoked or expired (unauthenticated) or its role no longer allows them (permission_denied)",
  labelNames: ["code"],
  registers: [metricsRegistry],
});

/** The access figures on /metrics: hooks for the credential cache and the open streams. */
export function prometheusAccessMetrics(): { cache: NonNullable<CredentialCacheOptions["observe"]>; streams: NonNullable<OpenStreamsOptions["observe"]> } {
  for (const result of ["hit", "miss"]) cacheReads.labels(result).inc(0);
  for (const code of ["unauthenticated", "permission_denied"]) streamsEnded.labels(code).inc(0);
  return {
    cache: (result) => cacheReads.labels(result).inc(),
    streams: {
      opened: () => streamsOpen.inc(),
      closed: () => streamsOpen.dec(),
      ended: (error) => streamsEnded.labels(error instanceof ConnectError && error.code === Code.PermissionDenied ? "permission_denied" : "unauthenticated").inc(),
    },
  };
}
