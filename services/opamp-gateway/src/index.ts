// @fleetplane/opamp-gateway: the OpAMP gateway — agents' WebSocket and HTTP
// connections on one side, agent-service (over Connect) and the push bus on
// the other. A process starts it with its settings; everything else is inside.
export { ClientCaRequiredError, startGateway, type Gateway, type GatewayOptions } from "./gateway.js";
export { GATEWAY_DEFAULTS, gatewaySettings, type GatewaySettings } from "./gateway-settings.js";
export { AGENT_AUTH_MODES, requiresClientCertificate, type AgentAuthMode } from "./agent-authentication.js";
export { InvalidTrustedProxyError, TrustedProxies } from "./trusted-proxies.js";
