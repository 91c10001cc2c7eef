/** OpAMP instance UIDs are exactly 16 bytes (a UUID, ideally v7). */
export const INSTANCE_UID_BYTES = 16;

/**
 * Why an instance UID on the wire is unacceptable, or undefined when it is
 * fine. The text goes to the agent in an error_response, so it says what was
 * expected.
 */
export function instanceUidProblem(uid: Uint8Array): string | undefined {
  return uid.length === INSTANCE_UID_BYTES ? undefined : `instance_uid must be ${INSTANCE_UID_BYTES} bytes, got ${uid.length}`;
}
