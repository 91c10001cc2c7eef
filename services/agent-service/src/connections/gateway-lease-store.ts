/**
 * Gateways hold a lease they renew while alive. When a lease runs out the
 * gateway is presumed dead and its agents are marked disconnected, so a killed
 * gateway never leaves agents "connected" forever.
 */
export interface GatewayLeaseRepository {
  /**
   * Creates or extends a gateway's lease until `expiresAt` (epoch ms), held
   * by the gateway process of `epoch`. A lease of this epoch that had not
   * run out by `now` is only extended; otherwise (none, another epoch's, one
   * that ran out — the reaper may be at its agents —, or one stored before
   * holds were) this epoch's hold starts again, named `newHold`. A gateway renews one renewal at a time
   * (gateway-lease.ts), so only its first renewal of a new epoch sees the
   * earlier one; were two to see it, the reaping that follows is idempotent.
   */
  renew(gatewayId: string, expiresAt: number, epoch: string, now: number, newHold: string): Promise<GatewayLeaseRenewal>;
  /** Gateways whose lease ended before `now` (epoch ms), at most `limit`. */
  expired(now: number, limit: number): Promise<string[]>;
  release(gatewayId: string): Promise<void>;
  /**
   * What the reaper does once it has marked a gateway's agents disconnected:
   * releases the lease if it still ended before `expiredBefore`. A lease its
   * gateway renewed while the reaper was at work is kept, and its hold starts
   * again, named `newHold`: agents that reported after that renewal may have
   * been marked disconnected all the same, so the gateway must ask them again.
   */
  releaseReaped(gatewayId: string, expiredBefore: number, newHold: string): Promise<void>;
}

export interface GatewayLeaseRenewal {
  /** The epoch that held the lease before (undefined: none, or a lease from before epochs were recorded). */
  previousEpoch: string | undefined;
  /** Names this epoch's unbroken hold: it changes exactly when the gateway's agents may have been reaped. */
  hold: string;
}
