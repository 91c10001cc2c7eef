import { useState } from "preact/hooks";
import type { OidcSignIn } from "../oidc.js";

/**
 * The only page an unauthenticated browser gets: sign in with the OIDC
 * issuer (when the server has one for the console), or paste an API key.
 * Either credential is checked with WhoAmI before the console opens.
 */
export function SignInPage({
  onSignIn,
  onOidcSignIn,
  oidc,
  problem,
}: {
  onSignIn: (key: string) => Promise<void>;
  onOidcSignIn: () => Promise<void>;
  oidc: OidcSignIn | undefined;
  problem: string | undefined;
}) {
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      await onSignIn(key);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="sign-in" data-testid="sign-in">
      <h1>Sign in to Fleetplane</h1>
      {oidc && (
        <p>
          <button type="button" onClick={() => void onOidcSignIn()} data-testid="sign-in-oidc">
            Sign in with {new URL(oidc.issuer).host}
          </button>{" "}
          or use an API key:
        </p>
      )}
      <p>
        Paste an API key (<span class="mono">fpk_…</span>). An admin makes one with <span class="mono">fleetplane admin create-key</span> or
        AccessService.CreateApiKey. It is kept in this tab only.
      </p>
      <form onSubmit={(e) => void submit(e)}>
        <input type="password" autocomplete="off" placeholder="fpk_…" value={key} onInput={(e) => setKey(e.currentTarget.value)} size={70} data-testid="sign-in-key" />{" "}
        <button type="submit" disabled={busy || key.trim() === ""} data-testid="sign-in-submit">
          Sign in
        </button>
      </form>
      {problem && (
        <p class="error" role="alert" data-testid="sign-in-problem">
          {problem}
        </p>
      )}
    </section>
  );
}
