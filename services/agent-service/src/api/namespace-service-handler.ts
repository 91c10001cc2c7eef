import type { ServiceImpl } from "@connectrpc/connect";
import { NamespaceService } from "@fleetplane/gen/fleetplane/fleet/v1/namespace_service_pb";
import { type Logger, fetchLimit, pageLimit, toPage } from "@fleetplane/platform";
import type { Namespaces } from "../fleet/namespaces.js";
import { guarded } from "./connect-errors.js";
import { requesterOf } from "./requested-by.js";

/** The Connect face of namespaces (served by agent-service). Page tokens are the last name of the previous page. */
export function createNamespaceServiceImpl(namespaces: Namespaces, logger: Logger): ServiceImpl<typeof NamespaceService> {
  const guard = guarded(logger);
  return {
    createNamespace: (req, ctx) => guard("CreateNamespace", async () => ({ namespace: await namespaces.create(req.name, req.description, requesterOf(ctx)) })),
    getNamespace: (req) => guard("GetNamespace", async () => ({ namespace: await namespaces.get(req.name) })),
    listNamespaces: (req) =>
      guard("ListNamespaces", async () => {
        const limit = pageLimit(req.pageSize);
        const found = await namespaces.list({ limit: fetchLimit(limit), ...(req.pageToken ? { after: req.pageToken } : {}) });
        const { page, nextPageToken } = toPage(found, limit, (last) => last.name);
        return { namespaces: page, nextPageToken };
      }),
    deleteNamespace: (req, ctx) =>
      guard("DeleteNamespace", async () => {
        await namespaces.delete(req.name, requesterOf(ctx));
        return {};
      }),
  };
}
