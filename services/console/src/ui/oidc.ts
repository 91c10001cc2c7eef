// OIDC sign-in in the browser: authorization code with PKCE (RFC 7636) for a
// public client. The console redirects to the issuer, comes back to its own
// URL with ?code&state, and exchanges the code at the token endpoint itself:
// there is no client secret, so there is nothing for a server to keep.

/** How the server says to sign in (GET /sign-in.json): public facts only. */
export interface OidcSignIn {
  issuer: string;
  clientId: string;
  scopes: string;
  token: "id" | "access";
  authorizationEndpoint: string;
  tokenEndpoint: string;
}

export interface SignInOptions {
  oidc?: OidcSignIn;
  /** Why OIDC is not offered although configured (the issuer could not be reached). */
  oidcProblem?: string;
}

/** The sign-in options of this server; API keys only when it cannot say. */
export async function signInOptions(): Promise<SignInOptions> {
  try {
    const res = await fetch("/sign-in.json", { cache: "no-store" });
    return res.ok ? ((await res.json()) as SignInOptions) : {};
  } catch {
    return {};
  }
}

// Kept in this tab across the round trip to the issuer, removed when it returns.
const PENDING_KEY = "fleetplane.oidc.pending";

interface Pending {
  state: string;
  verifier: string;
  nonce: string;
}

const base64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const random = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

/** The console's own URL, as registered at the issuer (its redirect URI). */
export const redirectUri = () => `${location.origin}/`;

/** Leaves for the issuer's sign-in page. */
export async function startOidcSignIn(oidc: OidcSignIn): Promise<void> {
  if (!crypto.subtle) throw new Error("OIDC sign-in needs a secure page (https://, or http://localhost): the browser offers no SHA-256 here");
  const pending: Pending = { state: random(), verifier: random(), nonce: random() };
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(pending.verifier))));
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(oidc.authorizationEndpoint);
  for (const [k, v] of Object.entries({
    response_type: "code",
    client_id: oidc.clientId,
    redirect_uri: redirectUri(),
    scope: oidc.scopes,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
  })) url.searchParams.set(k, v);
  location.assign(url.toString());
}

/** Whether this page load is the issuer sending the browser back (?code or ?error with ?state). */
export function isOidcReturn(): boolean {
  const q = new URLSearchParams(location.search);
  return q.has("state") && (q.has("code") || q.has("error"));
}

/**
 * Finishes a sign-in the issuer sent back: checks the state, exchanges the
 * code (with the verifier) for tokens and returns the one the admin API
 * takes. Always clears the query (the code is single-use, and must not stay
 * in the address bar or history) and the pending state.
 */
export async function finishOidcSignIn(oidc: OidcSignIn | undefined): Promise<string> {
  const q = new URLSearchParams(location.search);
  history.replaceState(null, "", `${location.pathname}${location.hash}`);
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  const error = q.get("error");
  if (error) throw new Error(`the issuer refused the sign-in: ${error}${q.get("error_description") ? ` (${q.get("error_description")})` : ""}`);
  if (!oidc) throw new Error("the issuer sent a sign-in back, but this server no longer offers OIDC sign-in");
  const pending = raw ? (JSON.parse(raw) as Pending) : undefined;
  if (!pending || q.get("state") !== pending.state) throw new Error("the sign-in came back with an unknown state (started in another tab, or forged); sign in again");
  const res = await fetch(oidc.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code: q.get("code") ?? "", redirect_uri: redirectUri(), client_id: oidc.clientId, code_verifier: pending.verifier }),
  }).catch((err: Error) => {
    throw new Error(`the token endpoint ${oidc.tokenEndpoint} could not be reached (${err.message}; does the issuer allow this origin (CORS)?)`);
  });
  const body = (await res.json().catch(() => ({}))) as { id_token?: string; access_token?: string; error?: string; error_description?: string };
  if (!res.ok) throw new Error(`the token endpoint refused the code: ${body.error ?? `HTTP ${res.status}`}${body.error_description ? ` (${body.error_description})` : ""}`);
  if (oidc.token === "access") {
    if (!body.access_token) throw new Error("the token endpoint returned no access token");
    return body.access_token;
  }
  if (!body.id_token) throw new Error('the token endpoint returned no ID token (is "openid" among the scopes?)');
  // The server checks the signature, issuer, audience and expiry; the nonce
  // ties the token to this sign-in, which only the browser that started it can check.
  if (claimsOf(body.id_token).nonce !== pending.nonce) throw new Error("the ID token is not for this sign-in (nonce mismatch); sign in again");
  return body.id_token;
}

function claimsOf(jwt: string): Record<string, unknown> {
  try {
    const part = jwt.split(".")[1] ?? "";
    return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
  } catch {
    return {};
  }
}
