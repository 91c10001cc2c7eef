import { create } from "@bufbuild/protobuf";
import { FileChange, FileDiffSchema, LineChange, type FileDiff } from "@fleetplane/gen/fleetplane/fleet/v1/configuration_service_pb";
import type { ConfigurationVersion } from "@fleetplane/gen/fleetplane/fleet/v1/fleet_pb";
import { bytesEqual } from "@fleetplane/platform";
import { diffLines, splitLines } from "./line-diff.js";

const LINE: Record<"kept" | "removed" | "added", LineChange> = { kept: LineChange.KEPT, removed: LineChange.REMOVED, added: LineChange.ADDED };
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The difference between two versions of a configuration, one entry per file
 * name in either, in name order: added, removed, modified (with its lines)
 * or unchanged. Bodies that are not UTF-8 text are compared whole.
 */
export function diffConfigurationVersions(from: ConfigurationVersion, to: ConfigurationVersion): FileDiff[] {
  const names = [...new Set([...Object.keys(from.files), ...Object.keys(to.files)])].sort();
  return names.map((name) => {
    const a = from.files[name];
    const b = to.files[name];
    const change = !a ? FileChange.ADDED : !b ? FileChange.REMOVED : bytesEqual(a.body, b.body) && a.contentType === b.contentType ? FileChange.UNCHANGED : FileChange.MODIFIED;
    const diff = create(FileDiffSchema, { name, change, fromContentType: a?.contentType ?? "", toContentType: b?.contentType ?? "" });
    const textA = a ? textOf(a.body) : "";
    const textB = b ? textOf(b.body) : "";
    if (textA === undefined || textB === undefined) {
      diff.binary = true;
      return diff;
    }
    diff.lines = diffLines(splitLines(textA), splitLines(textB)).map((e) => ({ $typeName: "fleetplane.fleet.v1.DiffLine", change: LINE[e.change], text: e.text }));
    return diff;
  });
}

function textOf(body: Uint8Array): string | undefined {
  try {
    return utf8.decode(body);
  } catch {
    return undefined;
  }
}
