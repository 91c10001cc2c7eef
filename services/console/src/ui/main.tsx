import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { accessApi, credential, errorText, forgetCredential, rememberCredential } from "./api.js";
import { SessionContext, type Session } from "./session.js";
import { SignInPage } from "./pages/sign-in.js";
import { finishOidcSignIn, isOidcReturn, signInOptions, startOidcSignIn, type SignInOptions } from "./oidc.js";
import { onLiveState, startLiveUpdates, type LiveState } from "./live-updates.js";
import { AgentDetailPage } from "./pages/agent-detail.js";
import { AgentListPage } from "./pages/agent-list.js";
import { AuditLogPage } from "./pages/audit-log.js";
import { ConfigurationDetailPage } from "./pages/configuration-detail.js";
import { ConfigurationListPage } from "./pages/configuration-list.js";
import { GroupListPage } from "./pages/group-list.js";
import { OverviewPage } from "./pages/overview.js";
import { RolloutListPage } from "./pages/rollout-list.js";
import { parseRoute, type Route } from "./route.js";
import "./styles.css";

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", update);
    // Effects run after the first paint: a hash changed before this one (a
    // link followed, or an address typed, as the console came up) fired a
    // hashchange nobody heard, and the page showed the route it started on.
    update();
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}

function LiveIndicator() {
  const [state, setState] = useState<LiveState>("connecting");
  useEffect(() => onLiveState(setState), []);
  return (
    <span class={`live live-${state}`} data-testid="live-state" title="Agent changes stream in from WatchAgents">
      {state === "live" ? "● live" : state === "connecting" ? "○ connecting" : "○ reconnecting…"}
    </span>
  );
}

/** Asks WhoAmI with the stored credential: the session, or why there is none. */
async function whoAmI(): Promise<Session> {
  const who = await accessApi.whoAmI({});
  return { identity: who.identity, permissions: who.permissions };
}

/** A credential the server refused mid-session (revoked, expired): back to the sign-in page. */
function signedOutByServer(): void {
  forgetCredential();
  location.reload();
}

/** Signed in: the console; otherwise the sign-in page only. */
function Root() {
  const [session, setSession] = useState<Session | undefined>();
  const [problem, setProblem] = useState<string | undefined>();
  const [options, setOptions] = useState<SignInOptions>({});
  const [checking, setChecking] = useState(credential() !== undefined || isOidcReturn());
  const open = async () => {
    try {
      setSession(await whoAmI());
      setProblem(undefined);
      startLiveUpdates(signedOutByServer);
    } catch (err) {
      forgetCredential();
      setProblem(`Not signed in: ${errorText(err)}`);
    }
  };
  useEffect(() => {
    void (async () => {
      const offered = await signInOptions();
      setOptions(offered);
      if (isOidcReturn()) {
        try {
          rememberCredential(await finishOidcSignIn(offered.oidc));
        } catch (err) {
          setProblem(`Not signed in: ${errorText(err)}`);
        }
      }
      if (credential()) await open();
      setChecking(false);
    })();
  }, []);
  if (checking) return <p class="loading">Signing in…</p>;
  if (!session) {
    return (
      <SignInPage
        problem={problem ?? options.oidcProblem}
        oidc={options.oidc}
        onSignIn={async (key) => {
          rememberCredential(key);
          await open();
        }}
        onOidcSignIn={async () => {
          try {
            await startOidcSignIn(options.oidc!);
          } catch (err) {
            setProblem(errorText(err));
          }
        }}
      />
    );
  }
  const signOut = () => {
    forgetCredential();
    location.reload(); // drops the live stream and every loaded page
  };
  return (
    <SessionContext.Provider value={session}>
      <App session={session} onSignOut={signOut} />
    </SessionContext.Provider>
  );
}

function App({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const route = useRoute();
  const link = (href: string, label: string, active: boolean) => (
    <a href={href} class={active ? "active" : ""}>
      {label}
    </a>
  );
  return (
    <>
      <header>
        <strong class="brand">Fleetplane</strong>
        <nav>
          {link("#/", "Overview", route.page === "overview")}
          {link("#/agents", "Agents", route.page === "agents" || route.page === "agent")}
          {link("#/groups", "Groups", route.page === "groups")}
          {link("#/rollouts", "Rollouts", route.page === "rollouts")}
          {link("#/configurations", "Configurations", route.page === "configurations" || route.page === "configuration")}
          {link("#/audit", "Audit log", route.page === "audit")}
        </nav>
        <span class="actor" data-testid="signed-in-as" title={`may: ${session.permissions.join(", ") || "nothing"}`}>
          {session.identity}{" "}
          <button type="button" onClick={onSignOut} data-testid="sign-out">
            Sign out
          </button>
        </span>
        <LiveIndicator />
      </header>
      <main>
        {route.page === "overview" && <OverviewPage />}
        {route.page === "agents" && <AgentListPage filter={route.filter} />}
        {route.page === "agent" && <AgentDetailPage uid={route.uid} />}
        {route.page === "audit" && <AuditLogPage />}
        {route.page === "groups" && <GroupListPage namespace={route.namespace} />}
        {route.page === "rollouts" && <RolloutListPage namespace={route.namespace} {...(route.group ? { group: route.group } : {})} />}
        {route.page === "configurations" && <ConfigurationListPage namespace={route.namespace} />}
        {route.page === "configuration" && <ConfigurationDetailPage namespace={route.namespace} name={route.name} {...(route.from ? { from: route.from } : {})} {...(route.to ? { to: route.to } : {})} />}
      </main>
    </>
  );
}

const root = document.getElementById("app")!;
root.replaceChildren(); // the "Loading…" placeholder: Preact adds to a container, it does not clear it
render(<Root />, root);
