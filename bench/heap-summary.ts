/** A V8 heap snapshot (.heapsnapshot JSON) summarised: live bytes and object counts by type and constructor name. */
export interface HeapSummary {
  totalBytes: number;
  byName: Map<string, { count: number; bytes: number }>;
}

export function summariseHeapSnapshot(json: string): HeapSummary {
  const snap = JSON.parse(json) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const types = snap.snapshot.meta.node_types[0];
  const byName = new Map<string, { count: number; bytes: number }>();
  let totalBytes = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    const size = snap.nodes[i + sizeAt]!;
    // Strings, numbers and code are grouped by type (their "name" is their content); objects by constructor.
    const key = type === "object" || type === "closure" || type === "native" ? `${type} ${snap.strings[snap.nodes[i + nameAt]!]}` : `(${type})`;
    const e = byName.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += size;
    byName.set(key, e);
    totalBytes += size;
  }
  return { totalBytes, byName };
}

/**
 * Who holds the objects named `name` (e.g. "native system / JSArrayBufferData"):
 * their retaining paths `depth` steps up (edge name and holder's name per
 * step, weak edges skipped), counted, with the objects' bytes, most bytes first.
 */
export function retainersOf(json: string, name: string, depth = 4): { path: string; count: number; bytes: number }[] {
  const snap = JSON.parse(json) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
    nodes: number[];
    edges: number[];
    strings: string[];
  };
  const nf = snap.snapshot.meta.node_fields;
  const ef = snap.snapshot.meta.edge_fields;
  const nw = nf.length;
  const ew = ef.length;
  const nodeTypes = snap.snapshot.meta.node_types[0];
  const edgeTypes = snap.snapshot.meta.edge_types[0];
  const [typeAt, nameAt, sizeAt, edgeCountAt] = ["type", "name", "self_size", "edge_count"].map((f) => nf.indexOf(f)) as [number, number, number, number];
  const [eTypeAt, eNameAt, eToAt] = ["type", "name_or_index", "to_node"].map((f) => ef.indexOf(f)) as [number, number, number];
  const nodeName = (i: number) => {
    const t = nodeTypes[snap.nodes[i * nw + typeAt]!]!;
    return t === "object" || t === "native" || t === "closure" ? `${snap.strings[snap.nodes[i * nw + nameAt]!]}` : `(${t})`;
  };
  const count = snap.nodes.length / nw;
  const retainers: { from: number; edge: string }[][] = Array.from({ length: count }, () => []);
  let e = 0;
  for (let i = 0; i < count; i++) {
    const edges = snap.nodes[i * nw + edgeCountAt]!;
    for (let k = 0; k < edges; k++, e += ew) {
      const et = edgeTypes[snap.edges[e + eTypeAt]!]!;
      if (et === "weak") continue;
      const n = snap.edges[e + eNameAt]!;
      const edge = et === "element" || et === "hidden" ? `[${et}]` : String(snap.strings[n]);
      retainers[snap.edges[e + eToAt]! / nw]!.push({ from: i, edge });
    }
  }
  const paths = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < count; i++) {
    if (nodeName(i) !== name) continue;
    let at = i;
    const steps: string[] = [];
    for (let d = 0; d < depth; d++) {
      const r = retainers[at]![0];
      if (!r) break;
      steps.push(`${r.edge}@${nodeName(r.from)}`);
      at = r.from;
    }
    const key = steps.join(" ← ");
    const p = paths.get(key) ?? { count: 0, bytes: 0 };
    p.count++;
    p.bytes += snap.nodes[i * nw + sizeAt]!;
    paths.set(key, p);
  }
  return [...paths.entries()].map(([path, v]) => ({ path, ...v })).sort((a, b) => b.bytes - a.bytes);
}
