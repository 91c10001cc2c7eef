import type { Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { serviceTokenClientInterceptor, traceClientInterceptor } from "@fleetplane/platform-node";

/**
 * A client transport to another service's internal listener: HTTP/2, the
 * trace (W3C trace context) when tracing is on, and the service token.
 */
export const internalTransport = (baseUrl: string, token: string | undefined) => {
  const interceptors: Interceptor[] = [traceClientInterceptor, ...(token ? [serviceTokenClientInterceptor(token)] : [])];
  return createConnectTransport({ baseUrl, httpVersion: "2", interceptors });
};
