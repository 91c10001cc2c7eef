import { useState } from "preact/hooks";

/**
 * The only page an unauthenticated browser gets: paste an API key. The key
 * is checked with WhoAmI before the console opens.
 */
export function SignInPage({ onSignIn, problem }: { onSignIn: (key: string) => Promise<void>; problem: string | undefined }) {
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
