/**
 * The enrollment token each test server's agents present, by OpAMP address
 * ("host:port"): the test topology runs with --agent-auth token, and the
 * simulated agents (WsAgent, httpPoll) send the token of the server they
 * reach unless a test says otherwise. Also by data directory, so a server
 * restarted on the same store keeps the token its agents are bound to.
 */
const byAddress = new Map<string, string>();
const byStore = new Map<string, string>();

export function registerAgentToken(opampPort: number, token: string, store?: string): void {
  byAddress.set(`127.0.0.1:${opampPort}`, token);
  if (store) byStore.set(store, token);
}

/** The token made earlier for this store (a restart), if any. */
export function agentTokenOfStore(store: string): string | undefined {
  return byStore.get(store);
}

/** The token agents of the server at `url` present; undefined when it asks for none. */
export function agentTokenFor(url: string): string | undefined {
  return byAddress.get(new URL(url).host);
}

/** The Authorization header for the server at `url` (none when it asks for none). */
export function agentAuthHeaders(url: string): Record<string, string> {
  const token = agentTokenFor(url);
  return token ? { authorization: `Bearer ${token}` } : {};
}
