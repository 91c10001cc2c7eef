import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EnrollmentTokenSchema, type EnrollmentToken } from "@fleetplane/gen/fleetplane/agent/v1/enrollment_service_pb";
import type { Logger } from "@fleetplane/platform";
import { InvalidRequestError } from "../agents/agent-errors.js";
import { validateLabels } from "../fleet/agent-labels.js";
import { DEFAULT_NAMESPACE } from "../fleet/resource-names.js";
import { AgentCredentialRefusedError, EnrollmentTokenNotFoundError } from "./enrollment-errors.js";
import { newEnrollmentSecret, parseEnrollmentToken, secretMatches } from "./enrollment-secret.js";
import type { EnrollmentTokenRepository } from "./enrollment-token-repository.js";

const CREDENTIAL_PREFIX = "token:";

/** The credential of an agent that presented token `id`, as recorded on connections and agents. */
export function tokenCredential(id: string): string {
  return CREDENTIAL_PREFIX + id;
}

/** The token id a credential names; undefined for other credentials. */
export function tokenIdOf(credential: string): string | undefined {
  return credential.startsWith(CREDENTIAL_PREFIX) ? credential.slice(CREDENTIAL_PREFIX.length) : undefined;
}

/** Where an agent enrolling with a token lands. */
export interface Enrollment {
  namespace: string;
  labels: Record<string, string>;
}

export type Authentication = { credential: string; refusal?: undefined } | { credential?: undefined; refusal: string };

export interface EnrollmentTokensOptions {
  tokens: EnrollmentTokenRepository;
  /** Throws FleetResourceNotFoundError for a namespace that does not exist. */
  requireNamespace: (namespace: string) => Promise<void>;
  logger: Logger;
  now?: () => number;
}

/**
 * Enrollment tokens: admins create, list and revoke them; gateways ask
 * whether a presented one is good (authenticate); the report path enrolls a
 * new instance UID with one (enroll), which counts against its maximum uses
 * and gives the agent the token's namespace and labels.
 */
export class EnrollmentTokens {
  private readonly now: () => number;

  constructor(private readonly deps: EnrollmentTokensOptions) {
    this.now = deps.now ?? Date.now;
  }

  async create(
    request: { namespace: string; labels: Record<string, string>; ttlSeconds: number; maxUses: number; description: string },
    createdBy: string,
  ): Promise<{ token: EnrollmentToken; secret: string }> {
    const namespace = request.namespace || DEFAULT_NAMESPACE;
    await this.deps.requireNamespace(namespace);
    validateLabels(request.labels);
    if (request.description.length > 256) throw new InvalidRequestError("description: at most 256 characters");
    const { id, token: secret, secretHash } = newEnrollmentSecret();
    const now = this.now();
    const token = create(EnrollmentTokenSchema, {
      id,
      namespace,
      labels: request.labels,
      maxUses: request.maxUses,
      createdAt: timestampFromMs(now),
      createdBy,
      description: request.description,
      secretHash,
      ...(request.ttlSeconds > 0 ? { expiresAt: timestampFromMs(now + request.ttlSeconds * 1000) } : {}),
    });
    await this.deps.tokens.create(token);
    this.deps.logger.info({ token: id, namespace, maxUses: request.maxUses, ttlSeconds: request.ttlSeconds, by: createdBy }, "enrollment token created");
    return { token: withoutSecret(token), secret };
  }

  async list(namespace: string | undefined): Promise<EnrollmentToken[]> {
    return (await this.deps.tokens.list(namespace || undefined)).map(withoutSecret);
  }

  async revoke(id: string, by: string): Promise<EnrollmentToken> {
    const token = await this.deps.tokens.revoke(id, timestampFromMs(this.now()));
    if (!token) throw new EnrollmentTokenNotFoundError(id);
    this.deps.logger.info({ token: id, by }, "enrollment token revoked");
    return withoutSecret(token);
  }

  /** Whether a presented bearer token is good now: its credential, or why not. */
  async authenticate(presented: string): Promise<Authentication> {
    const parsed = parseEnrollmentToken(presented);
    if (!parsed) return { refusal: "malformed token" };
    const token = await this.deps.tokens.get(parsed.id);
    if (!token || !secretMatches(parsed.secret, token.secretHash)) return { refusal: "unknown token" };
    const unusable = this.unusable(token);
    return unusable ? { refusal: unusable } : { credential: tokenCredential(token.id) };
  }

  /**
   * A new instance UID enrolls with the token its credential names: counted
   * against the token's maximum uses (once per UID). Throws
   * AgentCredentialRefusedError when the token cannot take it.
   */
  async enroll(credential: string, uid: string): Promise<Enrollment> {
    const id = tokenIdOf(credential);
    const token = id ? await this.deps.tokens.get(id) : undefined;
    if (!token) throw new AgentCredentialRefusedError("unknown token");
    const unusable = this.unusable(token);
    if (unusable) throw new AgentCredentialRefusedError(unusable);
    if (!(await this.deps.tokens.recordUse(token.id, uid, token.maxUses))) throw new AgentCredentialRefusedError(`token used up (${token.maxUses} agents)`);
    this.deps.logger.info({ token: token.id, agent: uid, namespace: token.namespace }, "agent enrolled");
    return { namespace: token.namespace || DEFAULT_NAMESPACE, labels: { ...token.labels } };
  }

  /**
   * The namespace a credential enrolls new agents into, counting no use
   * (what a new agent's CSR is filed under before it is stored); "default"
   * for a credential that names no token.
   */
  async namespaceOf(credential: string): Promise<string> {
    const id = tokenIdOf(credential);
    const token = id ? await this.deps.tokens.get(id) : undefined;
    return token?.namespace || DEFAULT_NAMESPACE;
  }

  private unusable(token: EnrollmentToken): string | undefined {
    if (token.revokedAt) return "token revoked";
    if (token.expiresAt && timestampDate(token.expiresAt).getTime() <= this.now()) return "token expired";
    return undefined;
  }
}

function withoutSecret(token: EnrollmentToken): EnrollmentToken {
  return { ...token, secretHash: new Uint8Array() };
}
