import { create, type DescMessage, type DescMethod, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext, type ServiceImpl, type Transport } from "@connectrpc/connect";

/** A service and its implementation, as registered on a ConnectRouter. */
export interface ServiceRegistration {
  service: DescService;
  /** The implementation of `service` (see registration(), which checks the pair). */
  impl: object;
}

/** Pairs a service with its implementation, type-checked, for a list of mixed services. */
export function registration<S extends DescService>(service: S, impl: ServiceImpl<S>): ServiceRegistration {
  return { service, impl };
}

type UnaryFn = (request: unknown, context: HandlerContext) => Promise<unknown> | unknown;

const NEVER_ABORTED = new AbortController().signal;
// Handlers in this code base neither read request headers nor set response
// headers or trailers, so one shared, empty set serves every call.
const NO_HEADERS = new Headers();

/**
 * A Connect transport that calls a service implementation in the same
 * process directly: the caller keeps its generated, typed client and the
 * callee its ServiceImpl — the same code paths as over the network — without
 * serializing, framing and abort-signal plumbing on every call (that cost
 * dominated a status report in standalone mode). Messages are passed by
 * reference: neither side may mutate a message after handing it over.
 * Streaming calls go to `streams` (Connect's router transport).
 */
export function createInProcessTransport(services: ServiceRegistration[], streams: Transport): Transport {
  const unary = new Map<DescMethod, UnaryFn>();
  for (const { service, impl } of services) {
    for (const method of service.methods) {
      const fn = (impl as Record<string, UnaryFn | undefined>)[method.localName];
      if (fn && method.methodKind === "unary") unary.set(method, fn.bind(impl));
    }
  }
  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethod & { input: I; output: O },
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: ConstructorParameters<typeof Headers>[0] | undefined,
      input: MessageInitShape<I>,
      contextValues?: ReturnType<typeof createContextValues>,
    ) {
      const fn = unary.get(method);
      if (!fn) throw new ConnectError(`${method.parent.typeName}/${method.name} is not served in this process`, Code.Unimplemented);
      const context: HandlerContext = {
        method,
        service: method.parent,
        signal: signal ?? NEVER_ABORTED,
        timeoutMs: () => timeoutMs,
        requestMethod: "POST",
        requestHeader: header ? new Headers(header) : NO_HEADERS,
        responseHeader: NO_HEADERS,
        responseTrailer: NO_HEADERS,
        values: contextValues ?? createContextValues(),
        url: `in-process:/${method.parent.typeName}/${method.name}`,
        protocolName: "in-process",
      } as HandlerContext;
      try {
        const output = await fn(create(method.input, input), context);
        return {
          stream: false as const,
          service: method.parent,
          method,
          header: NO_HEADERS,
          message: create(method.output, output as MessageInitShape<O>),
          trailer: NO_HEADERS,
        };
      } catch (err) {
        // What a remote caller would see: a ConnectError (unknown errors become Internal).
        throw err instanceof ConnectError ? err : new ConnectError(`${method.name} failed`, Code.Internal, undefined, undefined, err);
      }
    },
    stream: (...args) => streams.stream(...args),
  } as Transport;
}
