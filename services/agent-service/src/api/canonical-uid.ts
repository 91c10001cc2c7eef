import { instanceUidToHex, parseInstanceUid } from "@fleetplane/platform";

/**
 * An instance UID as the API takes it (hex or UUID text, any case) in the
 * form agent-service keys agents by: 32 lowercase hex digits. Throws
 * InvalidInstanceUidError (InvalidArgument) for anything else.
 */
export const canonicalUid = (text: string) => instanceUidToHex(parseInstanceUid(text));
