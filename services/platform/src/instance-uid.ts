/**
 * OpAMP instance UIDs are 16 raw bytes on the wire. People and URLs see them as
 * 32 hex digits; the UUID form with dashes is accepted on input too.
 */
export const INSTANCE_UID_BYTES = 16;

export class InvalidInstanceUidError extends Error {
  constructor(readonly input: string) {
    super(`invalid instance UID "${input}": expected 32 hex digits or a UUID (16 bytes)`);
    this.name = "InvalidInstanceUidError";
  }
}

export function instanceUidToHex(uid: Uint8Array): string {
  return Buffer.from(uid.buffer, uid.byteOffset, uid.byteLength).toString("hex");
}

export function parseInstanceUid(text: string): Uint8Array {
  const hex = text.trim().replaceAll("-", "").toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new InvalidInstanceUidError(text);
  return new Uint8Array(Buffer.from(hex, "hex"));
}

/**
 * How log lines name an agent (the `agent` field): hex, whichever form a
 * request used; text that is no instance UID is kept as given, so the line
 * still shows what was asked for.
 */
export function agentLogName(uid: string | Uint8Array): string {
  if (typeof uid !== "string") return instanceUidToHex(uid);
  try {
    return instanceUidToHex(parseInstanceUid(uid));
  } catch {
    return uid;
  }
}

export function isValidInstanceUid(uid: Uint8Array): boolean {
  return uid.length === INSTANCE_UID_BYTES;
}
