import type { CertificateRequest, CertificateRequestState } from "@fleetplane/gen/fleetplane/certificate/v1/certificate_service_pb";
import type { AgentCommand } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";
import type { CertificateDesk } from "./certificate-desk.js";
import type { IssuedCertificate } from "./certificate-signer.js";
import { InvalidRequestError } from "../agents/agent-errors.js";

/** What the agent side does with a decision (AdminCommands implements it). */
export interface CertificateOffers {
  offerCertificate(uid: string, issued: IssuedCertificate, requestedBy: string): Promise<{ command: AgentCommand; pushed: boolean }>;
  refuseCertificateRequest(uid: string, reason: string, requestedBy: string): Promise<{ command: AgentCommand; pushed: boolean }>;
}

/**
 * The admin's side of certificate signing requests (manual approval):
 * list them, approve (sign and offer) or deny (tell the agent why); revoke
 * an issued certificate.
 */
export class CertificateRequestUsecase {
  constructor(
    private readonly desk: CertificateDesk,
    private readonly agents: CertificateOffers,
  ) {}

  list(query: { namespace: string; instanceUid?: string; state?: CertificateRequestState; limit: number; after?: string }): Promise<CertificateRequest[]> {
    return this.desk.list(query);
  }

  /** Approves a PENDING request of `namespace` (another namespace's is NotFound). */
  async approve(id: string, approvedBy: string, namespace: string): Promise<{ request: CertificateRequest; pushed: boolean }> {
    const { request, issued } = await this.desk.approve(id, approvedBy, namespace);
    const { command, pushed } = await this.agents.offerCertificate(request.instanceUid, issued, approvedBy);
    await this.desk.noteCommand(request, command.id);
    return { request, pushed };
  }

  /** Denies a PENDING request of `namespace` (another namespace's is NotFound). */
  async deny(id: string, reason: string, deniedBy: string, namespace: string): Promise<{ request: CertificateRequest; pushed: boolean }> {
    if (!reason.trim()) throw new InvalidRequestError("DenyCertificateRequest needs a reason: it is told to the agent");
    const request = await this.desk.deny(id, reason, deniedBy, namespace);
    const { command, pushed } = await this.agents.refuseCertificateRequest(request.instanceUid, `certificate request ${id} denied by ${deniedBy}: ${reason}`, deniedBy);
    await this.desk.noteCommand(request, command.id);
    return { request, pushed };
  }

  /** Revokes the certificate of an APPROVED request of `namespace` (another namespace's is NotFound). */
  async revoke(id: string, reason: string, revokedBy: string, namespace: string): Promise<CertificateRequest> {
    if (!reason.trim()) throw new InvalidRequestError("RevokeCertificate needs a reason: it is kept on the request");
    return this.desk.revoke(id, reason, revokedBy, namespace);
  }
}
