import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "@fleetplane/gen/grpc/health/v1/health_pb";

/** How often Watch re-checks readiness. */
const WATCH_INTERVAL_MS = 5_000;

/**
 * grpc.health.v1.Health for load balancers and Kubernetes gRPC probes:
 * SERVING when the process's readiness check passes (its dependencies
 * answer), for the server ("") and for every service it serves.
 */
export function createHealthService(o: { ready: () => Promise<boolean>; services: () => readonly DescService[] }): ServiceImpl<typeof Health> {
  const status = async (service: string): Promise<Status | undefined> => {
    if (service !== "" && !o.services().some((s) => s.typeName === service)) return undefined;
    try {
      return (await o.ready()) ? Status.SERVING : Status.NOT_SERVING;
    } catch {
      return Status.NOT_SERVING;
    }
  };
  return {
    async check(req) {
      const s = await status(req.service);
      if (s === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      return { status: s };
    },
    async *watch(req, ctx) {
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const s = (await status(req.service)) ?? Status.SERVICE_UNKNOWN;
        if (s !== last) {
          last = s;
          yield { status: s };
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, WATCH_INTERVAL_MS);
          ctx.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    },
  };
}

export { Health };
