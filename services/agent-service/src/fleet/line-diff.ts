/** One line of a line-based difference. */
export interface LineEdit {
  change: "kept" | "removed" | "added";
  text: string;
}

/**
 * The shortest edit script turning `from` into `to`, line by line (Myers,
 * "An O(ND) Difference Algorithm", 1986): time O((N+M)·D), so a small change
 * to a large configuration costs little. Removals come before additions at
 * each change, as in a unified diff.
 */
export function diffLines(from: readonly string[], to: readonly string[]): LineEdit[] {
  const n = from.length;
  const m = to.length;
  const max = n + m;
  const offset = max + 1;
  // v[k + offset]: the furthest x reached on diagonal k; one snapshot per D.
  let v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let done = false;
  for (let d = 0; d <= max && !done; d++) {
    trace.push(v.slice());
    const next = v.slice();
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && v[k - 1 + offset]! < v[k + 1 + offset]!);
      let x = down ? v[k + 1 + offset]! : v[k - 1 + offset]! + 1;
      let y = x - k;
      while (x < n && y < m && from[x] === to[y]) {
        x++;
        y++;
      }
      next[k + offset] = x;
      if (x >= n && y >= m) {
        done = true;
        break;
      }
    }
    v = next;
  }
  // Walk the snapshots back from (n, m) to (0, 0).
  const edits: LineEdit[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const vd = trace[d]!;
    const k = x - y;
    let prevK: number;
    if (d === 0) prevK = 0;
    else prevK = k === -d || (k !== d && vd[k - 1 + offset]! < vd[k + 1 + offset]!) ? k + 1 : k - 1;
    const prevX = d === 0 ? 0 : vd[prevK + offset]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) edits.push({ change: "kept", text: from[--x]! }), y--;
    if (d === 0) break;
    if (x === prevX) edits.push({ change: "added", text: to[--y]! });
    else edits.push({ change: "removed", text: from[--x]! });
  }
  edits.reverse();
  return removalsFirst(edits);
}

/** Within each run of changes, removals before additions (the edit script may interleave them). */
function removalsFirst(edits: LineEdit[]): LineEdit[] {
  const out: LineEdit[] = [];
  let removed: LineEdit[] = [];
  let added: LineEdit[] = [];
  const flush = () => {
    out.push(...removed, ...added);
    removed = [];
    added = [];
  };
  for (const e of edits) {
    if (e.change === "kept") {
      flush();
      out.push(e);
    } else (e.change === "removed" ? removed : added).push(e);
  }
  flush();
  return out;
}

/** Splits a text into lines; a final newline does not make an empty last line. */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
