import { createContextValues, type Interceptor } from "@connectrpc/connect";
import { AccessService } from "@fleetplane/gen/fleetplane/access/v1/access_service_pb";
import {
  AccessEvents,
  adminAuthInterceptor,
  createAccessServiceImpl,
  createAuthenticator,
  createOidcVerifier,
  PEER,
  type AccessRepository,
  type OidcSettings,
} from "@fleetplane/access";
import { isLoopbackAddress, UsageError, type Logger, type OptionSpec } from "@fleetplane/platform";
import { registration, type ApiServerOptions, type ServiceRegistration, type TlsFiles } from "@fleetplane/platform-node";

/** Who may use the admin API and how browsers and TLS are treated there (every command with an admin port). */
export interface AdminAccessSettings {
  /** "on" (default): every RPC needs an API key or OIDC token. "none": nobody needs one — loopback only. */
  auth: "on" | "none";
  oidc?: OidcSettings | undefined;
  /** Host names the admin API and console answer to (default: loopback names); the listen address is always one. */
  publicHosts?: string[] | undefined;
  corsAllowedOrigins?: string[] | undefined;
  tls?: TlsFiles | undefined;
}

export const ADMIN_ACCESS_OPTIONS: OptionSpec[] = [
  { name: "admin-auth", kind: "string", description: "on: every admin RPC needs an API key or OIDC token; none: no credential (refused unless the admin API listens on loopback)", default: "on" },
  { name: "oidc-issuer", kind: "string", description: "Accept OIDC bearer tokens (JWTs) from this issuer (its iss claim), e.g. https://login.example.com/realms/ops" },
  { name: "oidc-audience", kind: "string", description: "The aud OIDC tokens must carry (needed with --oidc-issuer)" },
  { name: "oidc-jwks-url", kind: "string", description: "Where the issuer's signing keys are; default: jwks_uri of its discovery document" },
  { name: "oidc-roles-claim", kind: "string", description: "Token claim whose values grant roles (viewer, operator, admin in every namespace, or <namespace>:<role>); dots for nesting", default: "roles" },
  { name: "oidc-clock-skew-seconds", kind: "number", description: "Clock difference tolerated when checking exp and nbf", default: "60" },
  { name: "public-host", kind: "string", description: "Host names (comma separated) clients reach the admin API and console by; other Host headers are refused (DNS rebinding). Default: localhost, 127.0.0.1, ::1; the listen address is always allowed" },
  { name: "cors-allowed-origins", kind: "string", description: "Origins (comma separated, e.g. https://ops.example.com) whose web pages may call the admin API; default none" },
  { name: "api-tls-cert", kind: "string", description: "PEM certificate (chain) for TLS on the admin API (with --api-tls-key); reloaded when the file changes" },
  { name: "api-tls-key", kind: "string", description: "PEM private key for --api-tls-cert" },
];

const list = (v: unknown) => (v === undefined ? undefined : String(v).split(",").map((s) => s.trim()).filter(Boolean));

/** The flags as settings, checked; `listenHost` is where the admin API listens. */
export function adminAccessOf(v: Record<string, unknown>, listenHost: string): AdminAccessSettings {
  const auth = String(v["admin-auth"] ?? "on");
  if (auth !== "on" && auth !== "none") throw new UsageError(`--admin-auth must be on or none, got "${auth}"`);
  if (auth === "none" && !isLoopbackAddress(listenHost)) {
    throw new UsageError(`--admin-auth none is allowed only when the admin API listens on loopback, not on ${listenHost}: anyone who reaches it could change the fleet`);
  }
  const issuer = v["oidc-issuer"] === undefined ? undefined : String(v["oidc-issuer"]);
  if (issuer && v["oidc-audience"] === undefined) throw new UsageError("--oidc-issuer needs --oidc-audience (the aud the admin API's tokens carry)");
  const cert = v["api-tls-cert"], key = v["api-tls-key"];
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--api-tls-cert and --api-tls-key go together");
  return {
    auth,
    ...(issuer
      ? {
          oidc: {
            issuer,
            audience: String(v["oidc-audience"]),
            jwksUrl: v["oidc-jwks-url"] === undefined ? undefined : String(v["oidc-jwks-url"]),
            rolesClaim: String(v["oidc-roles-claim"] ?? "roles"),
            clockSkewSeconds: Number(v["oidc-clock-skew-seconds"] ?? 60),
          },
        }
      : {}),
    publicHosts: list(v["public-host"]),
    corsAllowedOrigins: list(v["cors-allowed-origins"]),
    ...(cert !== undefined ? { tls: { certFile: String(cert), keyFile: String(key) } } : {}),
  };
}

/**
 * The admin API's access control, assembled once per process: the one
 * interceptor (credentials, METHOD_RULES, roles), the client address it
 * records, the browser and TLS settings, and AccessService.
 */
export function adminAccess(settings: AdminAccessSettings, repository: AccessRepository, logger: Logger) {
  const events = new AccessEvents({ repository, logger });
  const interceptor: Interceptor = adminAuthInterceptor({
    mode: settings.auth,
    authenticate: createAuthenticator({ repository, oidc: settings.oidc ? createOidcVerifier(settings.oidc) : undefined }),
    events,
    logger,
  });
  if (settings.auth === "none") logger.warn("admin authentication is off (--admin-auth none): anyone who reaches the loopback admin API may change the fleet");
  const server: Pick<ApiServerOptions, "interceptors" | "contextValues" | "tls" | "publicHosts" | "corsAllowedOrigins"> = {
    interceptors: [interceptor],
    contextValues: (req) => createContextValues().set(PEER, req.socket?.remoteAddress ?? ""),
    tls: settings.tls,
    publicHosts: settings.publicHosts,
    corsAllowedOrigins: settings.corsAllowedOrigins,
  };
  const services: ServiceRegistration[] = [registration(AccessService, createAccessServiceImpl(repository, logger))];
  return { server, services };
}
