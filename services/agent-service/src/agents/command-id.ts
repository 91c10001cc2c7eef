import { instanceUidToHex, uuidv7Bytes } from "@fleetplane/platform";

/**
 * A new command's id: a UUIDv7 in hex, so ids sort by creation time in the
 * audit trail. Made only when a command is made: a UUIDv7 costs a
 * randomFillSync call, which showed up in steady-state CPU profiles when it
 * was made for every message (docs/performance.md §6).
 */
export function newCommandId(now: number): string {
  return instanceUidToHex(uuidv7Bytes(now));
}
