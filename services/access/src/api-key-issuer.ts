import type { AccessRepository, ApiKeyRecord } from "./access-repository.js";
import { generateApiKey, isApiKeyName } from "./api-keys.js";
import { InvalidRoleBindingError, roleBinding } from "./role-bindings.js";

export class InvalidApiKeyNameError extends Error {
  constructor(name: string) {
    super(`API key name "${name}" must be 1 to 64 letters, digits, ".", "_" or "-"`);
    this.name = "InvalidApiKeyNameError";
  }
}

/**
 * Makes a key, stores its hash and binds its identity ("key:<name>") to the
 * role. The only way keys are made: AccessService.CreateApiKey, `fleetplane
 * admin create-key` and the first-start key all come here. The whole key is
 * returned once and never stored.
 */
export async function issueApiKey(
  repository: AccessRepository,
  o: { name: string; role: string; namespace?: string; createdBy: string; now?: number },
): Promise<{ record: ApiKeyRecord; key: string }> {
  if (!isApiKeyName(o.name)) throw new InvalidApiKeyNameError(o.name);
  const binding = roleBinding(`key:${o.name}`, o.role, o.namespace);
  const made = generateApiKey();
  const record: ApiKeyRecord = { id: made.id, name: o.name, secretSha256: made.secretSha256, createdAtMs: o.now ?? Date.now(), createdBy: o.createdBy };
  await repository.insertApiKey(record);
  await repository.putRoleBinding(binding);
  return { record, key: made.key };
}

export { InvalidRoleBindingError };

/**
 * Standalone on loopback with an empty key store: an admin key, so the
 * person who just ran `npm start` can sign in. Undefined when any key exists
 * (revoked ones count: an admin who revoked every key meant it).
 */
export async function firstAdminKey(repository: AccessRepository): Promise<string | undefined> {
  if ((await repository.listApiKeys()).length > 0) return undefined;
  const { key } = await issueApiKey(repository, { name: `first-admin-${Date.now().toString(36)}`, role: "admin", namespace: "*", createdBy: "first start" });
  return key;
}
