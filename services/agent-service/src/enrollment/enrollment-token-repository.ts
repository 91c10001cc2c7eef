import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { EnrollmentToken } from "@fleetplane/gen/fleetplane/agent/v1/enrollment_service_pb";

/** Where enrollment tokens (with their secret's hash) and their uses are kept (secondary port). */
export interface EnrollmentTokenRepository {
  create(token: EnrollmentToken): Promise<void>;
  get(id: string): Promise<EnrollmentToken | undefined>;
  /** Newest first; every namespace when `namespace` is undefined. */
  list(namespace: string | undefined): Promise<EnrollmentToken[]>;
  /** Marks the token revoked (once: a second revocation keeps the first time); undefined when unknown. */
  revoke(id: string, at: Timestamp): Promise<EnrollmentToken | undefined>;
  /**
   * Records that instance UID `uid` enrolled with token `id`. Idempotent per
   * UID; false (and nothing recorded) when a new UID would pass `maxUses`
   * (0: no limit).
   */
  recordUse(id: string, uid: string, maxUses: number): Promise<boolean>;
}
