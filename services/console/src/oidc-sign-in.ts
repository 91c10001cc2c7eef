/** What the console needs to sign people in with OIDC (from the --oidc-* flags). */
export interface ConsoleOidcSettings {
  /** The issuer (as --oidc-issuer): its discovery document names the endpoints. */
  issuer: string;
  /** The console's client at the issuer: public (no secret), PKCE, redirect URI = the console's own URL. */
  clientId: string;
  /** Scopes asked for; "openid" at least. */
  scopes: string;
  /**
   * Which token the console sends as its bearer: the ID token (its aud is
   * the client id) or the access token (when the issuer makes JWT access
   * tokens for the admin API's audience). Either must carry an --oidc-audience.
   */
  token: "id" | "access";
}

/** The page's sign-in settings: public facts only, never a secret (there is none: PKCE). */
export interface OidcSignIn {
  issuer: string;
  clientId: string;
  scopes: string;
  token: "id" | "access";
  authorizationEndpoint: string;
  tokenEndpoint: string;
}

export class OidcDiscoveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OidcDiscoveryError";
  }
}

/**
 * Reads the issuer's discovery document for the authorization and token
 * endpoints, and checks it is the issuer's (OIDC Discovery §4.3: the
 * document's issuer is the one asked) and that it takes PKCE with S256.
 */
export async function discoverOidcSignIn(s: ConsoleOidcSettings, timeoutMs = 10_000): Promise<OidcSignIn> {
  const url = `${s.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  let doc: Record<string, unknown>;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    doc = (await res.json()) as Record<string, unknown>;
  } catch (err) {
    throw new OidcDiscoveryError(`the issuer's discovery document ${url} could not be read (${(err as Error).message})`);
  }
  if (doc.issuer !== s.issuer) throw new OidcDiscoveryError(`the discovery document ${url} is for issuer ${String(doc.issuer)}, not --oidc-issuer ${s.issuer}`);
  const endpoint = (name: string) => {
    const v = doc[name];
    if (typeof v !== "string" || !URL.canParse(v)) throw new OidcDiscoveryError(`the discovery document ${url} has no valid ${name}`);
    return v;
  };
  const methods = doc.code_challenge_methods_supported;
  // Absent means "not said"; a list without S256 means no PKCE as the console does it.
  if (Array.isArray(methods) && !methods.includes("S256")) throw new OidcDiscoveryError(`the issuer does not take PKCE with S256 (code_challenge_methods_supported: ${methods.join(", ")})`);
  return { issuer: s.issuer, clientId: s.clientId, scopes: s.scopes, token: s.token, authorizationEndpoint: endpoint("authorization_endpoint"), tokenEndpoint: endpoint("token_endpoint") };
}
