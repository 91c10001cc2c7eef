import type { AccessRepository } from "./access-repository.js";
import { parseApiKey, secretMatches, API_KEY_PREFIX } from "./api-keys.js";
import type { Identity } from "./identity.js";
import { InvalidTokenError, type OidcVerifier } from "./oidc-verifier.js";

/** No valid credential; the message says what was wrong (it goes to the caller). */
export class UnauthenticatedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnauthenticatedError";
  }
}

export type Authenticator = (authorization: string | null) => Promise<Identity>;

/**
 * Turns an `authorization` header into an identity: an API key
 * (`Bearer fpk_…`) checked against the store, or an OIDC token (`Bearer
 * <JWT>`) checked against the issuer's keys. Roles come from the store's
 * bindings of the identity, plus, for OIDC, the token's roles claim.
 */
export function createAuthenticator(o: { repository: AccessRepository; oidc?: OidcVerifier | undefined }): Authenticator {
  return async (authorization) => {
    if (!authorization) throw new UnauthenticatedError("no credential: send the header authorization: Bearer <API key or OIDC token>");
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) throw new UnauthenticatedError('the authorization header must be "Bearer <API key or OIDC token>"');
    const credential = m[1]!;
    if (credential.startsWith(API_KEY_PREFIX)) {
      const parsed = parseApiKey(credential);
      if (!parsed) throw new UnauthenticatedError("malformed API key (expected fpk_<16 hex digits>_<43 characters>)");
      const key = await o.repository.getApiKey(parsed.id);
      if (!key) throw new UnauthenticatedError(`unknown API key ${parsed.id}`);
      if (!secretMatches(parsed.secret, key.secretSha256)) throw new UnauthenticatedError(`wrong secret for API key ${parsed.id}`);
      if (key.revokedAtMs !== undefined) throw new UnauthenticatedError(`API key "${key.name}" was revoked`);
      const name = `key:${key.name}`;
      return { name, bindings: await o.repository.listRoleBindings(name) };
    }
    if (credential.split(".").length !== 3) throw new UnauthenticatedError("the credential is neither an API key (fpk_…) nor a JWT");
    if (!o.oidc) throw new UnauthenticatedError("OIDC tokens are not accepted here: the server has no --oidc-issuer");
    try {
      const { subject, bindings } = await o.oidc.verify(credential);
      const name = `oidc:${subject}`;
      return { name, bindings: [...bindings, ...(await o.repository.listRoleBindings(name))] };
    } catch (err) {
      if (err instanceof InvalidTokenError) throw new UnauthenticatedError(err.message);
      throw err;
    }
  };
}
