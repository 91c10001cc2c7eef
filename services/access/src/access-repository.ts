import type { RoleBinding } from "./role-bindings.js";

/** A stored API key: never the secret, only its hash. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  secretSha256: Uint8Array;
  createdAtMs: number;
  createdBy: string;
  revokedAtMs?: number;
  revokedBy?: string;
}

/** A refused admin call, kept for admins (AccessService.ListAccessEvents). */
export interface AccessEventRecord {
  /** UUIDv7 (hex): orders events by time. */
  id: string;
  atMs: number;
  method: string;
  /** Empty when no valid credential was given. */
  identity: string;
  outcome: "unauthenticated" | "permission_denied";
  reason: string;
  peer: string;
}

export class ApiKeyNameTakenError extends Error {
  constructor(readonly keyName: string) {
    super(`an API key named "${keyName}" exists already; pick another name (or revoke and list keys to see it)`);
    this.name = "ApiKeyNameTakenError";
  }
}

/** Where keys, role bindings and access events are kept (LMDB or MongoDB). */
export interface AccessRepository {
  /** Throws ApiKeyNameTakenError when the name is in use (revoked keys keep theirs). */
  insertApiKey(key: ApiKeyRecord): Promise<void>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  /** Every key, by name. */
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked (once; a second revoke keeps the first time); undefined when unknown. */
  revokeApiKey(id: string, atMs: number, by: string): Promise<ApiKeyRecord | undefined>;
  /** Idempotent. */
  putRoleBinding(binding: RoleBinding): Promise<void>;
  /** Every binding, or one identity's; by identity, namespace, role. */
  listRoleBindings(identity?: string): Promise<RoleBinding[]>;
  deleteRoleBinding(binding: RoleBinding): Promise<boolean>;
  appendAccessEvent(event: AccessEventRecord): Promise<void>;
  /** Newest first; `before`: the id of the last event of the previous page. */
  listAccessEvents(o: { limit: number; before?: string }): Promise<AccessEventRecord[]>;
}
