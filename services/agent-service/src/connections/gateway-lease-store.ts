/**
 * Gateways hold a lease they renew while alive. When a lease runs out the
 * gateway is presumed dead and its agents are marked disconnected, so a killed
 * gateway never leaves agents "connected" forever.
 */
export interface GatewayLeaseRepository {
  /**
   * Creates or extends a gateway's lease until `expiresAt` (epoch ms), held
   * by the gateway process of `epoch`; returns the epoch that held it before
   * (undefined: none, or a lease from before epochs were recorded). A
   * gateway renews one renewal at a time (gateway-lease.ts), so only its
   * first renewal of a new epoch sees the earlier one; were two to see it,
   * the reaping that follows is idempotent.
   */
  renew(gatewayId: string, expiresAt: number, epoch: string): Promise<string | undefined>;
  /** Gateways whose lease ended before `now` (epoch ms), at most `limit`. */
  expired(now: number, limit: number): Promise<string[]>;
  release(gatewayId: string): Promise<void>;
  /**
   * Releases the lease only if it still ended before `now` — a reaper must not
   * delete a lease its gateway renewed while the reaper was at work.
   */
  releaseIfExpired(gatewayId: string, now: number): Promise<void>;
}
