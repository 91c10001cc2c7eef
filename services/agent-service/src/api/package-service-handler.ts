import type { ServiceImpl } from "@connectrpc/connect";
import { PackageService } from "@fleetplane/gen/fleetplane/package/v1/package_service_pb";
import { type Logger, fetchLimit, pageLimit, toPage } from "@fleetplane/platform";
import { canonicalUid } from "./canonical-uid.js";
import { guarded } from "./connect-errors.js";
import { InvalidRequestError } from "../agents/agent-errors.js";
import { requesterOf } from "./requested-by.js";
import { requestNamespace } from "../fleet/resource-names.js";
import type { PackageRegistry } from "../packages/package-registry.js";
import type { PackageKey } from "../packages/package-repository.js";

/** Page tokens are the last package's [name, version], opaque to clients. */
function encodeToken(key: PackageKey): string {
  return Buffer.from(JSON.stringify([key.name, key.version]), "utf8").toString("base64url");
}

function decodeToken(token: string): PackageKey {
  try {
    const [name, version] = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown[];
    if (typeof name === "string" && typeof version === "string") return { name, version };
  } catch {
    // falls through to the error below
  }
  throw new InvalidRequestError("page_token is not one this server issued; pass next_page_token from the previous ListPackages response");
}

/** The Connect face of the package registry (served by agent-service). */
export function createPackageServiceImpl(registry: PackageRegistry, logger: Logger): ServiceImpl<typeof PackageService> {
  const guard = guarded(logger);
  return {
    registerPackage: (req, ctx) =>
      guard("RegisterPackage", async () => {
        const { pkg, created } = await registry.register(
          { name: req.name, version: req.version, type: req.type, downloadUrl: req.downloadUrl, sha256: req.sha256, signature: req.signature },
          requesterOf(ctx),
          requestNamespace(req.namespace),
        );
        return { package: pkg, created };
      }),
    getPackage: (req) => guard("GetPackage", async () => ({ package: await registry.get(requestNamespace(req.namespace), { name: req.name, version: req.version }) })),
    listPackages: (req) =>
      guard("ListPackages", async () => {
        const limit = pageLimit(req.pageSize);
        const found = await registry.list(requestNamespace(req.namespace), {
          limit: fetchLimit(limit),
          ...(req.name ? { name: req.name } : {}),
          ...(req.pageToken ? { after: decodeToken(req.pageToken) } : {}),
        });
        const { page, nextPageToken } = toPage(found, limit, encodeToken);
        return { packages: page, nextPageToken };
      }),
    deletePackage: (req) =>
      guard("DeletePackage", async () => {
        await registry.delete(requestNamespace(req.namespace), { name: req.name, version: req.version });
        return {};
      }),
    offerPackages: (req, ctx) =>
      guard("OfferPackages", async () => {
        const refs = req.packages.map((p) => ({ name: p.name, version: p.version }));
        const { agent, command, pushed } = await registry.offer(canonicalUid(req.instanceUid), refs, requesterOf(ctx), requestNamespace(req.namespace));
        return { agent, commandId: command.id, pushed };
      }, req.instanceUid),
  };
}
