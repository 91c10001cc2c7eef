import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AccessService, type ApiKey } from "@fleetplane/gen/fleetplane/access/v1/access_service_pb";
import { fetchLimit, pageLimit, toPage, type Logger } from "@fleetplane/platform";
import { toConnectError } from "@fleetplane/platform-node";
import { ApiKeyNameTakenError, type AccessRepository, type ApiKeyRecord } from "../access-repository.js";
import { InvalidApiKeyNameError, issueApiKey } from "../api-key-issuer.js";
import { callerOf, IDENTITY } from "../identity.js";
import { InvalidRoleBindingError, permissionsIn, roleBinding } from "../role-bindings.js";

const apiKeyOf = (r: ApiKeyRecord): Omit<ApiKey, "$typeName"> => ({
  id: r.id,
  name: r.name,
  createdAt: timestampFromMs(r.createdAtMs),
  createdBy: r.createdBy,
  ...(r.revokedAtMs !== undefined ? { revokedAt: timestampFromMs(r.revokedAtMs) } : {}),
  revokedBy: r.revokedBy ?? "",
});

/** AccessService: keys, role bindings, WhoAmI and the refused calls. Permissions are the interceptor's business. */
export function createAccessServiceImpl(repository: AccessRepository, logger: Logger): ServiceImpl<typeof AccessService> {
  const guard = async <T>(what: string, body: () => Promise<T>): Promise<T> => {
    try {
      return await body();
    } catch (err) {
      if (err instanceof InvalidApiKeyNameError || err instanceof InvalidRoleBindingError) throw new ConnectError(err.message, Code.InvalidArgument);
      if (err instanceof ApiKeyNameTakenError) throw new ConnectError(err.message, Code.AlreadyExists);
      if (err instanceof ConnectError) throw err;
      throw toConnectError(err, logger, what);
    }
  };
  const bindingOf = (b: { identity: string; role: string; namespace: string } | undefined) => {
    if (!b) throw new InvalidRoleBindingError("the request needs a binding");
    return roleBinding(b.identity, b.role, b.namespace);
  };
  return {
    createApiKey: (req, ctx: HandlerContext) =>
      guard("CreateApiKey", async () => {
        const { record, key } = await issueApiKey(repository, { name: req.name, role: req.role, namespace: req.namespace, createdBy: callerOf(ctx) });
        logger.info({ keyId: record.id, name: record.name, role: req.role, by: callerOf(ctx) }, "API key created");
        return { apiKey: apiKeyOf(record), secret: key };
      }),
    listApiKeys: () => guard("ListApiKeys", async () => ({ apiKeys: (await repository.listApiKeys()).map(apiKeyOf) })),
    revokeApiKey: (req, ctx) =>
      guard("RevokeApiKey", async () => {
        const revoked = await repository.revokeApiKey(req.id, Date.now(), callerOf(ctx));
        if (!revoked) throw new ConnectError(`API key ${req.id} is not known`, Code.NotFound);
        logger.info({ keyId: revoked.id, name: revoked.name, by: callerOf(ctx) }, "API key revoked");
        return { apiKey: apiKeyOf(revoked) };
      }),
    createRoleBinding: (req, ctx) =>
      guard("CreateRoleBinding", async () => {
        const binding = bindingOf(req.binding);
        await repository.putRoleBinding(binding);
        logger.info({ ...binding, by: callerOf(ctx) }, "role binding created");
        return { binding };
      }),
    listRoleBindings: (req) => guard("ListRoleBindings", async () => ({ bindings: await repository.listRoleBindings(req.identity || undefined) })),
    deleteRoleBinding: (req, ctx) =>
      guard("DeleteRoleBinding", async () => {
        const binding = bindingOf(req.binding);
        const deleted = await repository.deleteRoleBinding(binding);
        if (deleted) logger.info({ ...binding, by: callerOf(ctx) }, "role binding deleted");
        return { deleted };
      }),
    whoAmI: (_req, ctx) =>
      guard("WhoAmI", async () => {
        const identity = ctx.values.get(IDENTITY);
        if (!identity) throw new ConnectError("no caller: WhoAmI is answered only behind the admin interceptor", Code.Unauthenticated);
        return { identity: identity.name, bindings: identity.bindings, permissions: permissionsIn(identity.bindings) };
      }),
    listAccessEvents: (req) =>
      guard("ListAccessEvents", async () => {
        const limit = pageLimit(req.pageSize);
        const found = await repository.listAccessEvents({ limit: fetchLimit(limit), ...(req.pageToken ? { before: req.pageToken } : {}) });
        const { page, nextPageToken } = toPage(found, limit, (last) => last.id);
        return { events: page.map(({ atMs, ...e }) => ({ ...e, at: timestampFromMs(atMs) })), nextPageToken };
      }),
  };
}
