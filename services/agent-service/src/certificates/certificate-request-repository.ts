import type { CertificateRequest, CertificateRequestState } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";

/** Where certificate signing requests are kept (secondary port). */
export interface CertificateRequestRepository {
  /** Saves a request (insert or replace) durably. */
  save(request: CertificateRequest): Promise<void>;
  /**
   * Records the decision on a PENDING request (compare-and-set): replaces the
   * stored request with `decided` only if it is still PENDING, atomically
   * across every process sharing the store. False when the request is gone or
   * was already decided (another replica won); nothing is written then.
   */
  decide(decided: CertificateRequest): Promise<boolean>;
  get(id: string): Promise<CertificateRequest | undefined>;
  /**
   * The requests of one namespace (a request without one, stored before
   * namespaces, is in "default"), newest first; `after` is the id of the
   * last request of the previous page. Without `namespace`, every
   * namespace's (for lookups by agent, e.g. whether its certificate was
   * revoked, made where its namespace is not at hand).
   */
  list(query: { namespace?: string; instanceUid?: string; state?: CertificateRequestState; limit: number; after?: string }): Promise<CertificateRequest[]>;
}
