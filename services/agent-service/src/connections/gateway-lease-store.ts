/**
 * Gateways hold a lease they renew while alive. When a lease runs out the
 * gateway is presumed dead and its agents are marked disconnected, so a killed
 * gateway never leaves agents "connected" forever.
 */
export interface GatewayLeaseRepository {
  /** Creates or extends a gateway's lease until `expiresAt` (epoch ms). */
  renew(gatewayId: string, expiresAt: number): Promise<void>;
  /** Gateways whose lease ended before `now` (epoch ms), at most `limit`. */
  expired(now: number, limit: number): Promise<string[]>;
  release(gatewayId: string): Promise<void>;
  /**
   * Releases the lease only if it still ended before `now` — a reaper must not
   * delete a lease its gateway renewed while the reaper was at work.
   */
  releaseIfExpired(gatewayId: string, now: number): Promise<void>;
}
