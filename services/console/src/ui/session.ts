import { createContext } from "preact";
import { useContext } from "preact/hooks";

/** Who signed in and what they may do (from WhoAmI): the console hides what the role cannot do. */
export interface Session {
  identity: string;
  permissions: readonly string[];
}

export const SessionContext = createContext<Session>({ identity: "", permissions: [] });

/** Whether the signed-in caller holds a permission ("read", "read-secrets", "operate", "administer"). */
export function useCan(permission: string): boolean {
  return useContext(SessionContext).permissions.includes(permission);
}
