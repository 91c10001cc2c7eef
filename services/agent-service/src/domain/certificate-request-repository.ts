import type { CertificateRequest, CertificateRequestState } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";

/** Where certificate signing requests are kept (secondary port). */
export interface CertificateRequestRepository {
  /** Saves a request (insert or replace) durably. */
  save(request: CertificateRequest): Promise<void>;
  get(id: string): Promise<CertificateRequest | undefined>;
  /** Newest first; `after` is the id of the last request of the previous page. */
  list(query: { instanceUid?: string; state?: CertificateRequestState; limit: number; after?: string }): Promise<CertificateRequest[]>;
}
