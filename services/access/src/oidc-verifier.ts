import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from "jose";
import { ALL_NAMESPACES, roleBinding, type RoleBinding } from "./role-bindings.js";
import { isRole } from "./roles.js";

/** How OIDC bearer tokens are checked (all from the --oidc-* flags). */
export interface OidcSettings {
  /** The `iss` tokens must carry, e.g. https://login.example.com/realms/ops. */
  issuer: string;
  /** The `aud` tokens must include (the client id of the admin API). */
  audience: string;
  /** Where the signing keys are; default: `jwks_uri` from the issuer's discovery document. */
  jwksUrl?: string | undefined;
  /**
   * The claim (dots for nesting, e.g. realm_access.roles) whose values map to
   * roles: "viewer", "operator", "admin" bind in every namespace; "<namespace>:<role>"
   * in that one. Default "roles". Values that are neither are ignored.
   */
  rolesClaim?: string | undefined;
  /** Tolerated clock difference for exp and nbf; default 60 s. */
  clockSkewSeconds?: number | undefined;
}

/** A token that was refused; the message says why, for the caller and the log. */
export class InvalidTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidTokenError";
  }
}

export interface OidcVerifier {
  /** The token's subject and the roles its claim grants, or InvalidTokenError. */
  verify(token: string): Promise<{ subject: string; bindings: RoleBinding[] }>;
}

// Asymmetric algorithms only: "none" and HMAC (whose key would be the JWKS itself) are refused.
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

/** Verifies JWTs against the issuer's JWKS with jose (keys fetched once, refetched on an unknown kid). */
export function createOidcVerifier(s: OidcSettings): OidcVerifier {
  let keys: ReturnType<typeof createRemoteJWKSet> | undefined;
  const keySet = async () => (keys ??= createRemoteJWKSet(new URL(s.jwksUrl ?? (await discoverJwksUrl(s.issuer)))));
  const claim = s.rolesClaim ?? "roles";
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, await keySet(), {
          issuer: s.issuer,
          audience: s.audience,
          algorithms: ALGORITHMS,
          clockTolerance: s.clockSkewSeconds ?? 60,
          requiredClaims: ["sub", "exp"],
        }));
      } catch (err) {
        throw new InvalidTokenError(tokenProblem(err));
      }
      const subject = payload.sub!;
      return { subject, bindings: rolesOf(valueAt(payload, claim)).map(({ role, namespace }) => roleBinding(`oidc:${subject}`, role, namespace)) };
    },
  };
}

/** The OIDC discovery document names the JWKS. */
async function discoverJwksUrl(issuer: string): Promise<string> {
  const url = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  let document: { jwks_uri?: unknown };
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    document = (await res.json()) as { jwks_uri?: unknown };
  } catch (err) {
    throw new InvalidTokenError(`cannot verify the token: the issuer's discovery document ${url} could not be read (${(err as Error).message}); set --oidc-jwks-url`);
  }
  if (typeof document.jwks_uri !== "string") throw new InvalidTokenError(`the discovery document ${url} names no jwks_uri; set --oidc-jwks-url`);
  return document.jwks_uri;
}

function tokenProblem(err: unknown): string {
  if (err instanceof errors.JWTExpired) return "the OIDC token has expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "aud") return "the OIDC token is for another audience";
    if (err.claim === "iss") return "the OIDC token is from another issuer";
    if (err.claim === "nbf") return "the OIDC token is not valid yet";
    return `the OIDC token's "${err.claim}" claim is invalid (${err.reason})`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return "the OIDC token's algorithm is not accepted (asymmetric signatures only; never alg none)";
  if (err instanceof errors.JWKSNoMatchingKey) return "the OIDC token is signed by a key the issuer does not publish (unknown kid)";
  if (err instanceof errors.JWSSignatureVerificationFailed) return "the OIDC token's signature does not verify";
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JOSENotSupported) return `the OIDC token cannot be verified: ${(err as Error).message}`;
  if (err instanceof InvalidTokenError) return err.message;
  if (err instanceof errors.JOSEError) return `the OIDC token is malformed (${err.message})`;
  return `the OIDC token cannot be verified: the issuer's keys could not be fetched (${(err as Error).message})`;
}

function valueAt(payload: JWTPayload, path: string): unknown {
  let at: unknown = payload;
  for (const part of path.split(".")) at = at && typeof at === "object" ? (at as Record<string, unknown>)[part] : undefined;
  return at;
}

function rolesOf(value: unknown): Array<{ role: string; namespace: string }> {
  const values = Array.isArray(value) ? value : typeof value === "string" ? value.split(/[\s,]+/) : [];
  return values.flatMap((v) => {
    if (typeof v !== "string") return [];
    const [a, b] = v.split(":", 2);
    if (b === undefined) return isRole(a!) ? [{ role: a!, namespace: ALL_NAMESPACES }] : [];
    return isRole(b) && a ? [{ role: b, namespace: a }] : [];
  });
}
