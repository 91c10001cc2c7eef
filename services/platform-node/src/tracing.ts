import { context, propagation, SpanKind, SpanStatusCode, trace, type Link } from "@opentelemetry/api";
import type { Interceptor } from "@connectrpc/connect";
import type { Logger } from "@fleetplane/platform";

/**
 * OpenTelemetry tracing, off unless an OTLP endpoint is configured with the
 * standard variables (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTLP over HTTP). When on, spans of one
 * agent message or admin call follow it from the gateway through
 * agent-service to command-service (W3C trace context in Connect headers).
 */
/** Off by default: then spans are not even created (a status report is hot code). */
let enabled = false;

export async function startTracing(o: { serviceName: string; logger: Logger; env?: NodeJS.ProcessEnv }): Promise<{ shutdown(): Promise<void> }> {
  const env = o.env ?? process.env;
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return { shutdown: async () => {} };
  // The SDK and its exporter load only when tracing is on: imported at the
  // top they took ~10 MiB in every server process and gateway worker that
  // never exports a span (docs/performance.md §32).
  const [{ W3CTraceContextPropagator }, { OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor, NodeTracerProvider }] = await Promise.all([
    import("@opentelemetry/core"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-trace-node"),
  ]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": o.serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 1_000 })],
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  enabled = true;
  o.logger.info({ endpoint }, "tracing: exporting spans over OTLP/HTTP");
  return { shutdown: () => provider.shutdown() };
}

export const tracer = () => trace.getTracer("fleetplane");

/** Carries the current trace into an outgoing Connect call. */
export const traceClientInterceptor: Interceptor = (next) => async (req) => {
  if (!enabled) return next(req);
  propagation.inject(context.active(), req.header, { set: (h, k, v) => h.set(k, v) });
  return next(req);
};

/** Continues the caller's trace in a server span named after the method. */
export const traceServerInterceptor: Interceptor = (next) => async (req) => {
  if (!enabled) return next(req);
  const parent = propagation.extract(context.active(), req.header, {
    get: (h, k) => h.get(k) ?? undefined,
    keys: (h) => [...h.keys()],
  });
  return tracer().startActiveSpan(`${req.service.typeName}/${req.method.name}`, { kind: SpanKind.SERVER }, parent, async (span) => {
    try {
      return await next(req);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
};

type SpanOptions = { attributes?: () => Record<string, string>; links?: () => Link[]; root?: boolean; kind?: SpanKind };

/**
 * Runs `body` in a new span; errors mark the span and pass through. With
 * tracing off it returns body's own promise: not an async function, so a
 * status report does not pay an extra promise and microtask per call
 * (docs/performance.md §8).
 */
export function inSpan<T>(name: string, options: SpanOptions, body: () => Promise<T>): Promise<T> {
  if (enabled) return inNewSpan(name, options, body);
  try {
    return body();
  } catch (err) {
    // As from an async function: a body that throws gives a rejected promise.
    return Promise.reject(err);
  }
}

async function inNewSpan<T>(name: string, options: SpanOptions, body: () => Promise<T>): Promise<T> {
  const parent = options.root ? trace.deleteSpan(context.active()) : context.active();
  const attributes = options.attributes?.();
  const links = options.links?.();
  return tracer().startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(attributes ? { attributes } : {}), ...(links ? { links } : {}) }, parent, async (span) => {
    try {
      return await body();
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * Runs one call that carries the work of many callers (a batch) in a span of
 * its own trace, linked to each caller's span (`links`, taken with
 * currentLink when each joined): OpenTelemetry's shape for batches, where
 * one parent would put every other caller's work in the wrong trace. The
 * call's server side joins the batch's trace.
 */
export function inBatchSpan<T>(name: string, links: () => readonly (Link | undefined)[], size: number, body: () => Promise<T>): Promise<T> {
  return inSpan(name, { root: true, kind: SpanKind.CLIENT, links: () => links().filter((l): l is Link => l !== undefined), attributes: () => ({ "fleetplane.batch_size": String(size) }) }, body);
}

/** The span context of the current span, to link a batch to the messages it carries. */
export function currentLink(): Link | undefined {
  if (!enabled) return undefined;
  const sc = trace.getSpan(context.active())?.spanContext();
  return sc && trace.isSpanContextValid(sc) ? { context: sc } : undefined;
}
