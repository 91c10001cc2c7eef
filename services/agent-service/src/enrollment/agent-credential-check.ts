import type { Authentication, EnrollmentTokens } from "./enrollment-tokens.js";
import { certificateCredential } from "./credential-binding.js";

/** What a gateway presents of an agent's credential (AuthenticateAgentRequest). */
export interface PresentedCredential {
  token: string;
  certificateSerial: string;
  certificateUid: string;
}

export interface AgentCredentialCheckOptions {
  /** Without it every token is refused. */
  tokens?: EnrollmentTokens | undefined;
  /** Who knows revoked certificates (the certificate desk); without it none is revoked. */
  certificates?: { isRevoked(instanceUid: string, serial: string): Promise<boolean> } | undefined;
}

/**
 * AuthenticateAgent: whether what an agent presented on the OpAMP port is
 * good now. A token must be known, live and not used up (EnrollmentTokens);
 * a client certificate — already verified against --agent-client-ca by the
 * gateway — must not have been revoked here.
 */
export class AgentCredentialCheck {
  constructor(private readonly o: AgentCredentialCheckOptions) {}

  async authenticate(presented: PresentedCredential): Promise<Authentication> {
    if (presented.certificateSerial) {
      const revoked = presented.certificateUid ? await this.o.certificates?.isRevoked(presented.certificateUid, presented.certificateSerial) : false;
      return revoked ? { refusal: "client certificate revoked" } : { credential: certificateCredential(presented.certificateSerial) };
    }
    if (!this.o.tokens) return { refusal: "this server takes no enrollment tokens" };
    return this.o.tokens.authenticate(presented.token);
  }
}
