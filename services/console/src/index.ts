// @fleetplane/console: the web console, served beside the admin API by the
// handler made here (the browser app under ui/ is bundled on first request).
export { createConsoleHandler, SIGN_IN_PATH, type ConsoleHandlerOptions } from "./console-handler.js";
export { discoverOidcSignIn, OidcDiscoveryError, type ConsoleOidcSettings, type OidcSignIn } from "./oidc-sign-in.js";
