import type { Client } from "@connectrpc/connect";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import type { Logger } from "@fleetplane/platform";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { presentedCertificate } from "./client-certificate.js";

/**
 * What agents must present on the OpAMP port (--agent-auth): nothing; an
 * enrollment token (`Authorization: Bearer <token>`); a client certificate
 * issued by --agent-client-ca (mTLS); or both. Whatever the mode, a client
 * certificate that is presented (the port asks for one when
 * --agent-client-ca is set) must verify, and one naming an instance UID
 * binds the connection to it.
 */
export type AgentAuthMode = "none" | "token" | "mtls" | "token+mtls";
export const AGENT_AUTH_MODES: readonly AgentAuthMode[] = ["none", "token", "mtls", "token+mtls"];

/** Whether `mode` asks every agent for a client certificate. */
export function requiresClientCertificate(mode: AgentAuthMode): boolean {
  return mode === "mtls" || mode === "token+mtls";
}

function requiresToken(mode: AgentAuthMode): boolean {
  return mode === "token" || mode === "token+mtls";
}

/** Longer Authorization headers are refused unread (400): no token of ours is near it. */
const MAX_AUTHORIZATION_LENGTH = 1024;
/** Distinct credentials remembered; past it the oldest answer is forgotten (a spray of made-up tokens stays bounded). */
const MAX_CACHED = 10_000;

/** What a connection authenticated with (see Connection.credential, enrollment_credential, certificate_uid). */
export interface AgentCredentials {
  /** What its instance UID is bound to: "cert:<serial>" with a client certificate, else "token:<id>"; "" when nothing was presented. */
  credential: string;
  /** The token presented beside a client certificate ("token:<id>"); "" otherwise. */
  enrollmentCredential: string;
  /** The instance UID (hex) the client certificate names; the connection may speak for no other. "" when none. */
  certificateUid: string;
}

export const NO_CREDENTIALS: AgentCredentials = Object.freeze({ credential: "", enrollmentCredential: "", certificateUid: "" });

/** The decision on one request's credentials, or the refusal. */
export type AuthDecision = { credentials: AgentCredentials } | { status: 400 | 401; reason: string };

/** What is asked of agent-service about one credential. */
type Question = { token: string } | { certificateSerial: string; certificateUid: string };

interface Answer {
  question: Question;
  credential: string;
  refusal: string;
  checkedAt: number;
  /** Used since the last recheck (so worth rechecking). */
  used: boolean;
}

export interface AgentAuthenticatorOptions {
  mode: AgentAuthMode;
  agents: Client<typeof AgentGatewayService>;
  /**
   * How long an answer is trusted, in milliseconds: tokens in use are asked
   * about again this often (a revoked one then closes its connections), and a
   * refused one is refused from memory this long. Default 5 s.
   */
  recheckMs?: number;
  /** Called with a credential (token or certificate) found refused on a recheck (revoked, expired). */
  onRefused: (credential: string, reason: string) => void;
  /** Credentials of the connections the gateway holds now (they are rechecked even when not presented again). */
  held: () => Set<string>;
  logger: Logger;
  now?: () => number;
}

/**
 * The gateway's half of agent authentication: reads the bearer token and
 * the client certificate of an upgrade or poll and asks agent-service
 * (AuthenticateAgent) whether they are good (a token known, live and not
 * used up; a certificate not revoked), remembering each answer so a polling
 * agent costs no call per poll; credentials in use are asked about again
 * every recheckMs, in the background, and one found refused closes its
 * connections.
 */
export class AgentAuthenticator {
  private readonly answers = new Map<string, Answer>();
  private readonly inFlight = new Map<string, Promise<Answer>>();
  private readonly recheckMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: AgentAuthenticatorOptions) {
    this.recheckMs = o.recheckMs ?? 5_000;
    this.now = o.now ?? Date.now;
    this.timer = setInterval(() => void this.recheck(), this.recheckMs).unref();
  }

  get mode(): AgentAuthMode {
    return this.o.mode;
  }

  async authenticate(req: IncomingMessage): Promise<AuthDecision> {
    const mode = this.o.mode;
    const certificate = presentedCertificate(req);
    if (certificate.kind === "refused") return { status: 401, reason: certificate.reason };
    if (certificate.kind === "none" && requiresClientCertificate(mode)) {
      return { status: 401, reason: "no client certificate: this server asks agents for one issued by its --agent-client-ca (mTLS)" };
    }
    let certCredential = "";
    if (certificate.kind === "verified") {
      const answer = await this.answerFor({ certificateSerial: certificate.serial, certificateUid: certificate.uid });
      if (!answer.credential) return { status: 401, reason: answer.refusal };
      certCredential = answer.credential;
    }
    let tokenCredential = "";
    if (requiresToken(mode)) {
      const token = bearerToken(req.headers);
      if ("status" in token) return token;
      const answer = await this.answerFor({ token: token.token });
      if (!answer.credential) return { status: 401, reason: answer.refusal };
      tokenCredential = answer.credential;
    }
    return {
      credentials: certCredential
        ? { credential: certCredential, enrollmentCredential: tokenCredential, certificateUid: certificate.kind === "verified" ? certificate.uid : "" }
        : { credential: tokenCredential, enrollmentCredential: "", certificateUid: "" },
    };
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async answerFor(question: Question): Promise<Answer> {
    const key = keyOf(question);
    const known = this.answers.get(key);
    // A good answer stays good until a recheck says otherwise; a refusal is
    // asked again after recheckMs (a token created since is not refused forever).
    const answer = known && (known.credential || this.now() - known.checkedAt < this.recheckMs) ? known : await this.ask(question);
    answer.used = true;
    return answer;
  }

  private ask(question: Question): Promise<Answer> {
    const key = keyOf(question);
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.o.agents
        .authenticateAgent(question)
        .then((r) => {
          const answer: Answer = { question, credential: r.credential, refusal: r.refusal, checkedAt: this.now(), used: false };
          this.remember(key, answer);
          return answer;
        })
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private remember(key: string, answer: Answer): void {
    this.answers.delete(key);
    if (this.answers.size >= MAX_CACHED) this.answers.delete(this.answers.keys().next().value!);
    this.answers.set(key, answer);
  }

  /** Asks again about the good credentials used since the last round or held by a connection; one found refused closes its agents' connections. */
  private async recheck(): Promise<void> {
    const held = this.o.held();
    for (const [key, answer] of [...this.answers]) {
      if (!answer.credential) {
        if (this.now() - answer.checkedAt >= this.recheckMs) this.answers.delete(key);
        continue;
      }
      if (!answer.used && !held.has(answer.credential)) {
        // Unused for a whole round and held by no connection: forgotten; its next use asks again.
        this.answers.delete(key);
        continue;
      }
      answer.used = false;
      try {
        const fresh = await this.ask(answer.question);
        if (!fresh.credential) {
          this.o.logger.info({ credential: answer.credential, reason: fresh.refusal }, "agent credential no longer accepted; closing its connections");
          this.o.onRefused(answer.credential, fresh.refusal);
        }
      } catch (err) {
        // agent-service unreachable: keep the last answer, ask next round.
        answer.used = true;
        this.o.logger.debug({ err: String(err) }, "could not recheck an agent credential");
      }
    }
  }
}

function keyOf(q: Question): string {
  return "token" in q ? `t ${q.token}` : `c ${q.certificateSerial} ${q.certificateUid}`;
}

/**
 * The enrollment token of a request: `Authorization: Bearer <token>`, or
 * HTTP Basic whose password is the token (the user name is ignored). Basic
 * is there for clients that can only put a credential in the server URL —
 * the stock opamp-go example agent over https://user:<token>@host/v1/opamp,
 * whose HTTP client turns it into Basic — and it proves the same thing.
 */
function bearerToken(headers: IncomingHttpHeaders): { token: string } | { status: 400 | 401; reason: string } {
  const header = headers.authorization;
  if (header === undefined) return { status: 401, reason: "no Authorization header: an enrollment token is needed (Authorization: Bearer <token>)" };
  if (header.length > MAX_AUTHORIZATION_LENGTH) return { status: 400, reason: "Authorization header too long" };
  const bearer = /^Bearer[ ]+([\x21-\x7e]+)\s*$/i.exec(header);
  if (bearer) return { token: bearer[1]! };
  const basic = /^Basic[ ]+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
    const password = decoded.slice(decoded.indexOf(":") + 1);
    if (decoded.includes(":") && /^[\x21-\x7e]+$/.test(password)) return { token: password };
  }
  return { status: 401, reason: "Authorization is not a Bearer token (nor Basic with an enrollment token as its password)" };
}
