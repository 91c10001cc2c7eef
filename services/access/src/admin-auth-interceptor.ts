import { Code, ConnectError, createContextKey, type Interceptor, type StreamRequest, type StreamResponse, type UnaryRequest } from "@connectrpc/connect";
import type { Logger } from "@fleetplane/platform";
import { toConnectError } from "@fleetplane/platform-node";
import type { AccessEvents } from "./access-events.js";
import { UnauthenticatedError, type Authenticator } from "./authenticator.js";
import { IDENTITY, type Identity } from "./identity.js";
import { isMutation, ruleOf, type Permission } from "./method-permissions.js";
import type { OpenStreams } from "./open-streams.js";
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
  /** Server streams let in, checked again when their caller's access changes or its token expires. */
  streams: OpenStreams;
  /** For failures to check a credential (the store down: Unavailable, as any call that needs it). */
  logger: Logger;
}

type Refused = { code: Code.Unauthenticated | Code.PermissionDenied; reason: string; identity: Identity | undefined };

/**
 * The one place admin calls are let in or refused: it looks the method up in
 * METHOD_RULES, establishes the caller (API key or OIDC token) and checks
 * that its roles grant the permission in the namespace. Handlers read the
 * caller from IDENTITY (callerOf) and check nothing themselves. A server
 * stream it lets in stays under watch (OpenStreams): when its credential is
 * revoked or expires, or its role no longer grants the method, the stream
 * ends with Unauthenticated or PermissionDenied, as a new call would.
 */
export function adminAuthInterceptor(o: AdminAuthOptions): Interceptor {
  /** The caller, or why it is refused; throws only when the credential could not be checked (store down). */
  const authorize = async (method: string, permission: Permission | "authenticated", authorization: string | null, namespace: string): Promise<Identity | Refused> => {
    let identity: Identity;
    try {
      identity = await o.authenticate(authorization);
    } catch (err) {
      if (err instanceof UnauthenticatedError) return { code: Code.Unauthenticated, reason: err.message, identity: undefined };
      throw err;
    }
    if (permission !== "authenticated" && !permits(identity.bindings, permission, namespace)) {
      const held = identity.bindings.map((b) => `${b.role} in ${b.namespace === "*" ? "every namespace" : `namespace "${b.namespace}"`}`);
      return {
        code: Code.PermissionDenied,
        reason: `${identity.name} may not call ${method}: it needs the "${permission}" permission in namespace "${namespace}" (${held.length ? `it holds ${held.join(", ")}` : "it has no role"})`,
        identity,
      };
    }
    return identity;
  };
  const isRefused = (v: Identity | Refused): v is Refused => "code" in v;

  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const rule = ruleOf(method);
    const peer = req.contextValues.get(PEER);
    const record = (r: Refused) =>
      o.events.refused({ method, identity: r.identity?.name ?? "", outcome: r.code === Code.Unauthenticated ? "unauthenticated" : "permission_denied", reason: r.reason, peer }, isMutation(rule) || rule === undefined);
    const refuse = async (r: Refused): Promise<never> => {
      await record(r);
      throw new ConnectError(r.reason, r.code);
    };
    if (rule === undefined) return refuse({ code: Code.PermissionDenied, reason: `${method} has no access rule, so nobody may call it`, identity: undefined });
    if (rule === "internal") return refuse({ code: Code.PermissionDenied, reason: `${method} is internal to the services and not served on the admin API`, identity: undefined });
    if (rule === "open") return next(req);
    if (o.mode === "none") {
      req.contextValues.set(IDENTITY, ANONYMOUS_ADMIN);
      return next(req);
    }

    const authorization = req.header.get("authorization");
    const target = await namespaceOfCall(req);
    req = target.req;
    const namespace = target.namespace;
    let caller: Identity | Refused;
    try {
      caller = await authorize(method, rule, authorization, namespace);
    } catch (err) {
      throw toConnectError(err, o.logger, req.method.name);
    }
    if (isRefused(caller)) return refuse(caller);
    req.contextValues.set(IDENTITY, caller);
    if (!req.stream) return next(req);

    // A stream (server streaming, and bidi such as reflection) outlives the
    // check above: watch it. Ending it aborts the handler's signal (so the
    // handler stops) and ends the response with the refusal.
    const ended = new AbortController();
    const unwatch = o.streams.add({
      identity: caller.name,
      validUntilMs: caller.validUntilMs,
      authorize: async () => {
        const again = await authorize(method, rule, authorization, namespace);
        if (!isRefused(again)) return { allowed: true };
        await record(again);
        return { allowed: false, error: new ConnectError(`the stream was ended: ${again.reason}`, again.code) };
      },
      end: (error) => ended.abort(error),
    });
    try {
      const res = await next({ ...req, signal: AbortSignal.any([req.signal, ended.signal]) });
      if (!res.stream) return (unwatch(), res);
      return { ...res, message: endedBy(res.message, ended.signal, unwatch) } satisfies StreamResponse;
    } catch (err) {
      unwatch();
      throw err;
    }
  };
}

/**
 * The namespace a call acts in, which its caller's roles must cover: the
 * request's `namespace` field, or the one of the resource it carries (empty
 * means "default", as the handlers read it), else "default". A server stream's one
 * request is read here and handed on unchanged; a client or bidi stream
 * (reflection) sends its messages later and is judged in "default".
 */
async function namespaceOfCall<R extends UnaryRequest | StreamRequest>(req: R): Promise<{ namespace: string; req: R }> {
  // The request's own `namespace`, else that of the resource it carries
  // whole (CreateGroup's group, CreateRoleBinding's binding: "*" there needs
  // a role in every namespace).
  const of = (message: unknown) => {
    const fields = (message ?? {}) as Record<string, unknown>;
    if (typeof fields.namespace === "string") return fields.namespace || DEFAULT_NAMESPACE;
    for (const value of Object.values(fields)) {
      const inner = value !== null && typeof value === "object" ? (value as { namespace?: unknown }).namespace : undefined;
      if (typeof inner === "string") return inner || DEFAULT_NAMESPACE;
    }
    return DEFAULT_NAMESPACE;
  };
  if (!req.stream) return { namespace: of(req.message), req };
  if (req.method.methodKind !== "server_streaming") return { namespace: DEFAULT_NAMESPACE, req };
  const it = req.message[Symbol.asyncIterator]();
  const first = await it.next();
  async function* replay() {
    if (first.done) return;
    yield first.value;
    for (let step = await it.next(); !step.done; step = await it.next()) yield step.value;
  }
  return { namespace: first.done ? DEFAULT_NAMESPACE : of(first.value), req: { ...req, message: replay() } };
}

/** The handler's messages until `signal` aborts; then its reason is thrown (the stream's final status). */
async function* endedBy<T>(messages: AsyncIterable<T>, signal: AbortSignal, onDone: () => void): AsyncGenerator<T> {
  const it = messages[Symbol.asyncIterator]();
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => {}); // observed below; never an unhandled rejection
  try {
    for (;;) {
      const step = await Promise.race([it.next(), aborted]);
      if (step.done) return;
      yield step.value;
    }
  } finally {
    onDone();
    // Not awaited: the handler ends on its aborted signal; waiting here could hold the response open.
    void it.return?.()?.catch?.(() => {});
  }
}
