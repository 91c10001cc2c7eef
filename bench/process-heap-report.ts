import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * V8's heap of a running server process, from Node's diagnostic report: the
 * process writes one on SIGUSR2 when started with the flags `nodeArgs` gives
 * (a gateway worker inherits its primary's). Unlike a heap snapshot the
 * report forces no collection and leaves RSS as it was, so it says what the
 * heap holds at that moment — committed against used per space — not what
 * lives.
 */
export interface HeapReport {
  committed: number;
  used: number;
  /** ArrayBuffers' contents, outside the heap. */
  external: number;
  /** V8's own malloc'ed memory (not the process's). */
  malloced: number;
  spaces: Map<string, { committed: number; used: number }>;
}

/** Signalled files (reports, heap snapshots) of server processes, written into a directory of their own. */
export class SignalledFiles {
  readonly dir = mkdtempSync(join(tmpdir(), "fp-heap-"));

  /** Node flags for a diagnostic report on SIGUSR2, written here. */
  reportArgs(): string {
    // Without network: a report names each socket's peer, looked up by reverse DNS — seconds at thousands of sockets.
    return `--report-on-signal --report-signal=SIGUSR2 --report-exclude-network --report-compact --report-directory=${this.dir}`;
  }

  /** Node flags for a heap snapshot on SIGUSR2, written here. */
  snapshotArgs(): string {
    return `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${this.dir}`;
  }

  /**
   * Signals `pid` (SIGUSR2) and waits for the file it writes (named with its
   * pid, ending in `ext`) to be whole: present and no longer growing.
   */
  async signal(pid: number, ext: string): Promise<string> {
    const before = new Set(readdirSync(this.dir));
    process.kill(pid, "SIGUSR2");
    let size = -1;
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const f = readdirSync(this.dir).find((n) => !before.has(n) && n.endsWith(ext) && n.includes(`.${pid}.`));
      if (!f) continue;
      const now = statSync(join(this.dir, f)).size;
      if (now > 0 && now === size) return join(this.dir, f);
      size = now;
    }
    throw new Error(`no ${ext} file from ${pid}`);
  }

  /** `pid`'s V8 heap now, from a diagnostic report (the process runs with reportArgs()). */
  async heapReport(pid: number): Promise<HeapReport> {
    const file = await this.signal(pid, ".json");
    // A report of thousands of sockets is written in pieces, and may pause longer than signal()'s look: read until whole.
    let text = readFileSync(file, "utf8");
    for (let i = 0; i < 100 && !isWholeJson(text); i++) {
      await new Promise((r) => setTimeout(r, 300));
      text = readFileSync(file, "utf8");
    }
    const h = (JSON.parse(text) as { javascriptHeap: { totalCommittedMemory: number; usedMemory: number; externalMemory: number; mallocedMemory: number; heapSpaces: Record<string, { committedMemory: number; used: number }> } }).javascriptHeap;
    rmSync(file);
    return {
      committed: h.totalCommittedMemory,
      used: h.usedMemory,
      external: h.externalMemory,
      malloced: h.mallocedMemory,
      spaces: new Map(Object.entries(h.heapSpaces).map(([k, v]) => [k, { committed: v.committedMemory, used: v.used }])),
    };
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function isWholeJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
