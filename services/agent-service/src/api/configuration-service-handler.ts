import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ConfigurationService } from "@fleetplane/gen/fleetplane/fleet/v1/configuration_service_pb";
import { ConfigurationVersionInfoSchema, type ConfigurationVersion } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { type Logger, fetchLimit, pageLimit, toPage } from "@fleetplane/platform";
import { InvalidRequestError } from "../agents/agent-errors.js";
import type { Configurations } from "../fleet/configurations.js";
import { requestNamespace } from "../fleet/resource-names.js";
import { guarded } from "./connect-errors.js";
import { requesterOf } from "./requested-by.js";

/** A version without its bodies (what needs only read permission). */
function infoOf(v: ConfigurationVersion) {
  return create(ConfigurationVersionInfoSchema, {
    version: v.version,
    fileNames: Object.keys(v.files).sort(),
    createdBy: v.createdBy,
    ...(v.createdAt ? { createdAt: v.createdAt } : {}),
    message: v.message,
    configHash: v.configHash,
  });
}

/** Version page tokens are the last version number of the previous page. */
function versionToken(token: string): number | undefined {
  if (!token) return undefined;
  const n = Number(token);
  if (!Number.isInteger(n) || n < 1) throw new InvalidRequestError("page_token is not one this server issued; pass next_page_token from the previous ListConfigurationVersions response");
  return n;
}

/** The Connect face of configurations (served by agent-service). */
export function createConfigurationServiceImpl(configurations: Configurations, logger: Logger): ServiceImpl<typeof ConfigurationService> {
  const guard = guarded(logger);
  return {
    createConfiguration: (req, ctx) =>
      guard("CreateConfiguration", async () => {
        const { configuration, version } = await configurations.create(
          requestNamespace(req.namespace),
          req.name,
          { description: req.description, files: req.files, message: req.message },
          requesterOf(ctx),
        );
        return { configuration, version: infoOf(version) };
      }),
    createConfigurationVersion: (req, ctx) =>
      guard("CreateConfigurationVersion", async () => {
        const { configuration, version, created } = await configurations.addVersion(requestNamespace(req.namespace), req.name, { files: req.files, message: req.message }, requesterOf(ctx));
        return { configuration, version: infoOf(version), created };
      }),
    getConfiguration: (req) => guard("GetConfiguration", async () => ({ configuration: await configurations.get(requestNamespace(req.namespace), req.name) })),
    listConfigurations: (req) =>
      guard("ListConfigurations", async () => {
        const limit = pageLimit(req.pageSize);
        const found = await configurations.list(requestNamespace(req.namespace), { limit: fetchLimit(limit), ...(req.pageToken ? { after: req.pageToken } : {}) });
        const { page, nextPageToken } = toPage(found, limit, (last) => last.name);
        return { configurations: page, nextPageToken };
      }),
    getConfigurationVersion: (req) =>
      guard("GetConfigurationVersion", async () => ({ version: await configurations.getVersion(requestNamespace(req.namespace), req.name, req.version) })),
    listConfigurationVersions: (req) =>
      guard("ListConfigurationVersions", async () => {
        const limit = pageLimit(req.pageSize);
        const before = versionToken(req.pageToken);
        const found = await configurations.listVersions(requestNamespace(req.namespace), req.name, { limit: fetchLimit(limit), ...(before ? { before } : {}) });
        const { page, nextPageToken } = toPage(found, limit, (last) => String(last.version));
        return { versions: page.map(infoOf), nextPageToken };
      }),
    diffConfigurationVersions: (req) =>
      guard("DiffConfigurationVersions", async () => ({ files: await configurations.diff(requestNamespace(req.namespace), req.name, req.fromVersion, req.toVersion) })),
    deleteConfiguration: (req, ctx) =>
      guard("DeleteConfiguration", async () => {
        await configurations.delete(requestNamespace(req.namespace), req.name, requesterOf(ctx));
        return {};
      }),
  };
}
