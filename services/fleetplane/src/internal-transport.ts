import type { Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { serviceTokenClientInterceptor, traceClientInterceptor } from "@fleetplane/platform-node";
import type { InternalClientSettings } from "./internal-listener-choice.js";

/**
 * A client transport to another service's internal listener: HTTP/2, the
 * trace (W3C trace context) when tracing is on, the service token, and for
 * https:// the CAs the listener's certificate is checked against.
 */
export const internalTransport = (baseUrl: string, client: InternalClientSettings) => {
  const interceptors: Interceptor[] = [traceClientInterceptor, ...(client.token ? [serviceTokenClientInterceptor(client.token)] : [])];
  return createConnectTransport({ baseUrl, httpVersion: "2", interceptors, ...(client.ca ? { nodeOptions: { ca: client.ca } } : {}) });
};
