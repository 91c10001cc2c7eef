import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  CertificateRequestSchema,
  CertificateRequestState,
  type CertificateRequest,
} from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import { LogRateLimit, certificateSerial, instanceUidToHex, type Logger, uuidv7Bytes } from "@fleetplane/platform";
import type { CertificateRequestRepository } from "./certificate-request-repository.js";
import { MalformedCsrError, type CertificateSigner, type IssuedCertificate } from "./certificate-signer.js";
import { csrIdentityProblem, uuidText } from "./csr-identity.js";
import { KeyedMutex } from "../agents/keyed-mutex.js";
import { DEFAULT_NAMESPACE } from "../fleet/resource-names.js";

/**
 * auto: every valid CSR naming its sender is signed at once (the spec's
 * "automatically approves all TOFU requests"). manual: valid CSRs wait for
 * an admin's ApproveCertificateRequest. Manual is the default: a client
 * certificate is a credential, and auto-approval hands one to anything that
 * can reach the OpAMP port.
 */
export type CsrApproval = "auto" | "manual";

export const AUTO_APPROVER = "auto-approval";
/** Who refused a request that failed the server's own checks. */
export const AUTO_CHECK = "auto-check";

export type CsrDecision =
  | { kind: "signed"; request: CertificateRequest; issued: IssuedCertificate }
  | { kind: "pending"; request: CertificateRequest }
  | { kind: "refused"; request: CertificateRequest; reason: string };

export class CertificateRequestNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`certificate request ${id} is not known; list them with ListCertificateRequests`);
    this.name = "CertificateRequestNotFoundError";
  }
}

/** The request or the server is not in a state that allows what was asked. */
export class CertificateRequestStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CertificateRequestStateError";
  }
}

export interface CertificateDeskOptions {
  requests: CertificateRequestRepository;
  /** Unset when no CA is configured: nothing can be signed, requests are refused and kept. */
  signer?: CertificateSigner | undefined;
  approval: CsrApproval;
  /**
   * OpAMP URL offered with a certificate when the agent has no OpAMP
   * connection settings of its own (the spec requires a destination).
   */
  opampEndpoint: () => string;
  logger: Logger;
  now?: () => number;
}

/**
 * The certificate signing desk: takes agents' CSRs, checks them, keeps them
 * on record, and signs the ones that pass — at once or when an admin
 * approves. It knows nothing of agents' documents or transports; the agent
 * usecase turns its decisions into offers and refusals.
 */
export class CertificateDesk {
  private readonly now: () => number;
  private readonly mutex = new KeyedMutex();
  /**
   * Any agent can send CSRs, each refusal is kept on record (ListCertificateRequests), and a server
   * without a CA refuses every one: a line per refusal was a line per message (451 in the chaos
   * fuzz's 3,000 inputs). A few per 10 s, the count of those left out with the next.
   */
  private readonly refusalLines: LogRateLimit;

  constructor(private readonly o: CertificateDeskOptions) {
    this.now = o.now ?? Date.now;
    this.refusalLines = new LogRateLimit({ intervalMs: 10_000, burst: 5, now: this.now });
  }

  /** Whether a CA is configured (the server then announces AcceptsConnectionSettingsRequest). */
  get signsCertificates(): boolean {
    return this.o.signer !== undefined;
  }

  get opampEndpoint(): string {
    return this.o.opampEndpoint();
  }

  /** Checks and records an agent's CSR, filed under the agent's namespace; signs it under auto approval. */
  async receive(instanceUid: string, csr: Uint8Array, agent: { acceptsOpampSettings: boolean; authenticated?: boolean; namespace?: string }): Promise<CsrDecision> {
    const now = this.now();
    const request = create(CertificateRequestSchema, {
      id: instanceUidToHex(uuidv7Bytes(now)),
      instanceUid,
      namespace: agent.namespace || DEFAULT_NAMESPACE,
      csr,
      state: CertificateRequestState.PENDING,
      createdAt: timestampFromMs(now),
    });
    const refuse = async (reason: string): Promise<CsrDecision> => {
      this.decide(request, CertificateRequestState.REFUSED, AUTO_CHECK, reason);
      await this.o.requests.save(request);
      const extra = this.refusalLines.take("refused");
      if (extra) this.o.logger.warn({ agent: instanceUid, certificateRequest: request.id, reason, ...extra }, "certificate signing request refused");
      return { kind: "refused", request, reason };
    };
    const signer = this.o.signer;
    if (!signer) {
      return refuse("this server has no certificate authority configured, so it cannot sign certificate requests (operator: set --csr-ca-cert and --csr-ca-key)");
    }
    if (!agent.acceptsOpampSettings) {
      return refuse("the agent does not declare the AcceptsOpAMPConnectionSettings capability, so it could not take the certificate offer");
    }
    const pem = new TextDecoder().decode(csr);
    let inspected;
    try {
      inspected = await signer.inspect(pem);
    } catch (err) {
      if (err instanceof MalformedCsrError) return refuse(err.message);
      throw err;
    }
    request.subject = inspected.subject;
    if (!inspected.signatureValid) return refuse("the CSR's signature does not verify with the public key it carries; generate the CSR again with the agent's private key");
    const problem = csrIdentityProblem(inspected, instanceUid, { authenticated: agent.authenticated ?? false });
    if (problem) return refuse(problem);

    if (this.o.approval === "manual") {
      await this.o.requests.save(request);
      this.o.logger.info({ agent: instanceUid, certificateRequest: request.id, subject: request.subject }, "certificate signing request waits for approval (ApproveCertificateRequest)");
      return { kind: "pending", request };
    }
    // A new request: no other replica knows it, so it is simply saved.
    const issued = await this.issue(request, signer, AUTO_APPROVER);
    await this.o.requests.save(request);
    this.logIssued(request, issued, AUTO_APPROVER);
    return { kind: "signed", request, issued };
  }

  /**
   * Signs a PENDING request on an admin's word. The mutex spares a second
   * signature within this process; across replicas the repository's
   * compare-and-set decides. The certificate is signed before the decision is
   * recorded, so the stored APPROVED request always carries it; a replica
   * that loses the race throws away its certificate unseen (never stored,
   * offered or audited) and answers like a second approval does.
   */
  async approve(id: string, approvedBy: string, namespace: string = DEFAULT_NAMESPACE): Promise<{ request: CertificateRequest; issued: IssuedCertificate }> {
    return this.mutex.run(id, async () => {
      const request = await this.pending(id, "approved", namespace);
      if (!this.o.signer) {
        throw new CertificateRequestStateError(`certificate request ${id} cannot be approved: this server has no certificate authority configured (set --csr-ca-cert and --csr-ca-key)`);
      }
      const issued = await this.issue(request, this.o.signer, approvedBy);
      await this.record(request, "approved");
      this.logIssued(request, issued, approvedBy);
      return { request, issued };
    });
  }

  /** Denies a PENDING request (of `namespace`); the reason is told to the agent. */
  async deny(id: string, reason: string, deniedBy: string, namespace: string = DEFAULT_NAMESPACE): Promise<CertificateRequest> {
    return this.mutex.run(id, async () => {
      const request = await this.pending(id, "denied", namespace);
      this.decide(request, CertificateRequestState.DENIED, deniedBy, reason);
      await this.record(request, "denied");
      this.o.logger.info({ agent: request.instanceUid, certificateRequest: id, deniedBy, reason }, "certificate signing request denied");
      return request;
    });
  }

  /**
   * Revokes the certificate of an APPROVED request: gateways then refuse it
   * (AuthenticateAgent asks isRevoked) and close the connections that use it.
   * Revoking a revoked one again keeps the first revocation.
   */
  async revoke(id: string, reason: string, revokedBy: string, namespace: string = DEFAULT_NAMESPACE): Promise<CertificateRequest> {
    return this.mutex.run(id, async () => {
      const request = await this.get(id, namespace);
      if (!request) throw new CertificateRequestNotFoundError(id);
      if (request.state === CertificateRequestState.REVOKED) return request;
      if (request.state !== CertificateRequestState.APPROVED) {
        throw new CertificateRequestStateError(`certificate request ${id} has no certificate to revoke: it is ${CertificateRequestState[request.state]}, not APPROVED`);
      }
      this.decide(request, CertificateRequestState.REVOKED, revokedBy, reason);
      await this.o.requests.save(request);
      this.o.logger.info({ agent: request.instanceUid, certificateRequest: id, serial: request.serialNumber, revokedBy, reason }, "client certificate revoked");
      return request;
    });
  }

  /**
   * Whether the certificate with this serial, issued to agent `instanceUid`,
   * was revoked. Certificates this desk did not issue (another CA trusted as
   * --agent-client-ca) are not known here and never revoked by it.
   */
  async isRevoked(instanceUid: string, serial: string): Promise<boolean> {
    const wanted = certificateSerial(serial);
    const revoked = await this.o.requests.list({ instanceUid, state: CertificateRequestState.REVOKED, limit: 1000 });
    return revoked.some((r) => certificateSerial(r.serialNumber) === wanted);
  }

  /** Notes the audit id of what was sent to the agent about this request. */
  async noteCommand(request: CertificateRequest, commandId: string): Promise<void> {
    request.commandId = commandId;
    await this.o.requests.save(request);
  }

  /** A request of `namespace`; another namespace's is not found (undefined). */
  async get(id: string, namespace: string = DEFAULT_NAMESPACE): Promise<CertificateRequest | undefined> {
    const request = await this.o.requests.get(id);
    return request && namespaceOfRequest(request) === namespace ? request : undefined;
  }

  /** The requests of `namespace`'s agents, newest first. */
  list(query: { namespace: string; instanceUid?: string; state?: CertificateRequestState; limit: number; after?: string }): Promise<CertificateRequest[]> {
    return this.o.requests.list(query);
  }

  private async pending(id: string, what: string, namespace: string): Promise<CertificateRequest> {
    const request = await this.get(id, namespace);
    if (!request) throw new CertificateRequestNotFoundError(id);
    if (request.state !== CertificateRequestState.PENDING) throw this.notPending(request, what);
    return request;
  }

  /** Stores the decision if the request is still PENDING; otherwise another replica decided first. */
  private async record(decided: CertificateRequest, what: string): Promise<void> {
    if (await this.o.requests.decide(decided)) return;
    const current = await this.o.requests.get(decided.id);
    if (!current) throw new CertificateRequestNotFoundError(decided.id);
    throw this.notPending(current, what);
  }

  private notPending(request: CertificateRequest, what: string): CertificateRequestStateError {
    return new CertificateRequestStateError(`certificate request ${request.id} cannot be ${what}: it is ${CertificateRequestState[request.state]}, not PENDING`);
  }

  /** Signs the request and writes the certificate and the decision into it (not into the store). */
  private async issue(request: CertificateRequest, signer: CertificateSigner, by: string): Promise<IssuedCertificate> {
    const issued = await signer.issue(new TextDecoder().decode(request.csr), uuidText(request.instanceUid), this.now());
    this.decide(request, CertificateRequestState.APPROVED, by, "");
    request.certificate = new TextEncoder().encode(issued.certificatePem);
    request.serialNumber = issued.serialNumber;
    request.notAfter = timestampFromMs(issued.notAfter);
    return issued;
  }

  private logIssued(request: CertificateRequest, issued: IssuedCertificate, by: string): void {
    this.o.logger.info({ agent: request.instanceUid, certificateRequest: request.id, serial: issued.serialNumber, approvedBy: by }, "client certificate issued");
  }

  private decide(request: CertificateRequest, state: CertificateRequestState, by: string, reason: string): void {
    request.state = state;
    request.decidedBy = by;
    request.reason = reason;
    request.decidedAt = timestampFromMs(this.now());
  }
}

/** A request's namespace; requests stored before namespaces are in "default". */
export function namespaceOfRequest(request: CertificateRequest): string {
  return request.namespace || DEFAULT_NAMESPACE;
}
