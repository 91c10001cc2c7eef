import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "@fleetplane/platform";
import { toConnectError } from "@fleetplane/platform-node";
import type { AccessEvents } from "./access-events.js";
import { UnauthenticatedError, type Authenticator } from "./authenticator.js";
import { IDENTITY, type Identity } from "./identity.js";
import { isMutation, ruleOf } from "./method-permissions.js";
import { DEFAULT_NAMESPACE, permits } from "./role-bindings.js";

/** Who every caller is with `--admin-auth none` (loopback only): an admin with no name. */
const ANONYMOUS_ADMIN: Identity = { name: "anonymous", bindings: [{ identity: "anonymous", role: "admin", namespace: "*" }] };

/** The client's address, set by the server per request (for access events). */
export const PEER = createContextKey<string>("", { description: "the client's address" });

export interface AdminAuthOptions {
  /** "none" serves every call without a credential (allowed on loopback only; the CLI checks). */
  mode: "on" | "none";
  authenticate: Authenticator;
  events: AccessEvents;
  /** For failures to check a credential (the store down: Unavailable, as any call that needs it). */
  logger: Logger;
}

/**
 * The one place admin calls are let in or refused: it looks the method up in
 * METHOD_RULES, establishes the caller (API key or OIDC token) and checks
 * that its roles grant the permission in the namespace. Handlers read the
 * caller from IDENTITY (callerOf) and check nothing themselves.
 */
export function adminAuthInterceptor(o: AdminAuthOptions): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const rule = ruleOf(method);
    const peer = req.contextValues.get(PEER);
    const refuse = async (code: Code.Unauthenticated | Code.PermissionDenied, reason: string, identity: Identity | undefined): Promise<never> => {
      await o.events.refused({ method, identity: identity?.name ?? "", outcome: code === Code.Unauthenticated ? "unauthenticated" : "permission_denied", reason, peer }, isMutation(rule) || rule === undefined);
      throw new ConnectError(reason, code);
    };
    if (rule === undefined) return refuse(Code.PermissionDenied, `${method} has no access rule, so nobody may call it`, undefined);
    if (rule === "internal") return refuse(Code.PermissionDenied, `${method} is internal to the services and not served on the admin API`, undefined);
    if (rule === "open") return next(req);
    if (o.mode === "none") {
      req.contextValues.set(IDENTITY, ANONYMOUS_ADMIN);
      return next(req);
    }

    let identity: Identity;
    try {
      identity = await o.authenticate(req.header.get("authorization"));
    } catch (err) {
      if (err instanceof UnauthenticatedError) return refuse(Code.Unauthenticated, err.message, undefined);
      throw toConnectError(err, o.logger, req.method.name);
    }
    if (rule !== "authenticated" && !permits(identity.bindings, rule, DEFAULT_NAMESPACE)) {
      const held = identity.bindings.map((b) => `${b.role} in ${b.namespace === "*" ? "every namespace" : `namespace "${b.namespace}"`}`);
      return refuse(
        Code.PermissionDenied,
        `${identity.name} may not call ${method}: it needs the "${rule}" permission in namespace "${DEFAULT_NAMESPACE}" (${held.length ? `it holds ${held.join(", ")}` : "it has no role"})`,
        identity,
      );
    }
    req.contextValues.set(IDENTITY, identity);
    return next(req);
  };
}
