import type { Client } from "@connectrpc/connect";
import type { AgentGatewayService } from "@fleetplane/gen/fleetplane/agent/v1/agent_gateway_service_pb";
import type { Logger } from "@fleetplane/platform";
import type { IncomingHttpHeaders } from "node:http";

/**
 * What agents must present on the OpAMP port (--agent-auth): nothing, or an
 * enrollment token as `Authorization: Bearer <token>`.
 */
export type AgentAuthMode = "none" | "token";
export const AGENT_AUTH_MODES: readonly AgentAuthMode[] = ["none", "token"];

/** Longer Authorization headers are refused unread (400): no token of ours is near it. */
const MAX_AUTHORIZATION_LENGTH = 1024;
/** Distinct tokens remembered; past it the oldest answer is forgotten (a spray of made-up tokens stays bounded). */
const MAX_CACHED = 10_000;

/** The decision on one request's credential: the credential to record ("" under none), or the refusal. */
export type AuthDecision = { credential: string } | { status: 400 | 401; reason: string };

interface Answer {
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
  /** Called with the credential of a token found refused on a recheck (revoked, expired). */
  onRefused: (credential: string, reason: string) => void;
  /** Credentials of the connections the gateway holds now (their tokens are rechecked even when not presented again). */
  held: () => Set<string>;
  logger: Logger;
  now?: () => number;
}

/**
 * The gateway's half of agent authentication: reads the bearer token of an
 * upgrade or poll and asks agent-service (AuthenticateAgent) whether it is
 * good, remembering the answer so a polling agent costs no call per poll;
 * tokens in use are asked about again every recheckMs, in the background.
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
    if (o.mode !== "none") this.timer = setInterval(() => void this.recheck(), this.recheckMs).unref();
  }

  get mode(): AgentAuthMode {
    return this.o.mode;
  }

  async authenticate(headers: IncomingHttpHeaders): Promise<AuthDecision> {
    if (this.o.mode === "none") return { credential: "" };
    const header = headers.authorization;
    if (header === undefined) return { status: 401, reason: "no Authorization header: an enrollment token is needed (Authorization: Bearer <token>)" };
    if (header.length > MAX_AUTHORIZATION_LENGTH) return { status: 400, reason: "Authorization header too long" };
    const m = /^Bearer[ ]+([\x21-\x7e]+)\s*$/i.exec(header);
    if (!m) return { status: 401, reason: "Authorization is not a Bearer token" };
    const answer = await this.answerFor(m[1]!);
    answer.used = true;
    return answer.credential ? { credential: answer.credential } : { status: 401, reason: answer.refusal };
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async answerFor(token: string): Promise<Answer> {
    const known = this.answers.get(token);
    // A good answer stays good until a recheck says otherwise; a refusal is
    // asked again after recheckMs (a token created since is not refused forever).
    if (known && (known.credential || this.now() - known.checkedAt < this.recheckMs)) return known;
    return this.ask(token);
  }

  private ask(token: string): Promise<Answer> {
    let pending = this.inFlight.get(token);
    if (!pending) {
      pending = this.o.agents
        .authenticateAgent({ token })
        .then((r) => {
          const answer: Answer = { credential: r.credential, refusal: r.refusal, checkedAt: this.now(), used: false };
          this.remember(token, answer);
          return answer;
        })
        .finally(() => this.inFlight.delete(token));
      this.inFlight.set(token, pending);
    }
    return pending;
  }

  private remember(token: string, answer: Answer): void {
    this.answers.delete(token);
    if (this.answers.size >= MAX_CACHED) this.answers.delete(this.answers.keys().next().value!);
    this.answers.set(token, answer);
  }

  /** Asks again about the good tokens used since the last round or held by a connection; one found refused closes its agents' connections. */
  private async recheck(): Promise<void> {
    const held = this.o.held();
    for (const [token, answer] of [...this.answers]) {
      if (!answer.credential) {
        if (this.now() - answer.checkedAt >= this.recheckMs) this.answers.delete(token);
        continue;
      }
      if (!answer.used && !held.has(answer.credential)) {
        // Unused for a whole round and held by no connection: forgotten; its next use asks again.
        this.answers.delete(token);
        continue;
      }
      answer.used = false;
      try {
        const fresh = await this.ask(token);
        if (!fresh.credential) {
          this.o.logger.info({ credential: answer.credential, reason: fresh.refusal }, "agent credential no longer accepted; closing its connections");
          this.o.onRefused(answer.credential, fresh.refusal);
        }
      } catch (err) {
        // agent-service unreachable: keep the last answer, ask next round.
        answer.used = true;
        this.o.logger.debug({ err: String(err) }, "could not recheck an agent token");
      }
    }
  }
}
