// @fleetplane/platform-node: the Node runtime pieces of every service — the
// admin API server, in-process transport and push bus, logging, metrics and
// tracing. The embedded store (LMDB), MongoDB and NATS adapters have their own
// entry points ("./embedded-store", "./mongo", "./nats") so a process that does
// not use them never loads their drivers (a gateway worker loaded lmdb's
// native add-on for nothing, docs/performance.md §32).
export { startApiServer, type ApiServerOptions, type WebHandler } from "./api-server.js";
export type { DualProtocolServer } from "./dual-protocol-server.js";
export { startInternalServer, type InternalServerOptions } from "./internal-server.js";
export { readServiceToken, serviceTokenClientInterceptor, serviceTokenInterceptor, ServiceTokenFileError } from "./service-token.js";
export { readTlsFiles, watchTlsFiles, type TlsFiles } from "./tls-files.js";
export { LOOPBACK_NAMES, allowedHostNames, requestHostName } from "./browser-guard.js";
export { createInProcessTransport, registration, type ServiceRegistration } from "./in-process-transport.js";
export { createInProcessPushBus } from "./in-process-push-bus.js";
export { createLogger } from "./pino-logger.js";
export { toConnectError } from "./connect-errors.js";
export { BoundHistogram, type BoundHistogramChild } from "./bound-histogram.js";
export { addMetricsSource, metricsRegistry, processMetrics, renderMetrics, type ProcessMetrics } from "./metrics.js";
export { scrapedGauge, scrapedLabelledGauge, type ScrapedGauge, type ScrapedGaugeOptions, type ScrapedLabelledGauge } from "./scraped-gauge.js";
export { timed } from "./timed.js";
export { prefixedBinaryEncoder } from "./prefixed-binary-encoder.js";
export { startTracing, traceClientInterceptor, inSpan, inBatchSpan, currentLink } from "./tracing.js";
