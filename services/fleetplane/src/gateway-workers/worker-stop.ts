/**
 * How a gateway worker ends. A worker's stop closes its sockets and tells
 * agent-service its agents are gone; when the primary died first, part of
 * that has no one to answer it, and a stop that waits forever leaves an
 * orphan holding the OpAMP port that no one will stop (it ignores signals
 * meant for the process group, see gateway-worker-main.ts). So a stop is
 * bounded: past `deadlineMs` the process exits anyway, non-zero.
 */
export function boundedStop(o: { work: () => Promise<void>; deadlineMs: number; exit: (code: number) => void; onOverdue?: () => void }): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () =>
    (stopping ??= new Promise<void>((resolve) => {
      const overdue = setTimeout(() => {
        o.onOverdue?.();
        o.exit(1);
        resolve();
      }, o.deadlineMs);
      o.work().then(
        () => (clearTimeout(overdue), o.exit(0), resolve()),
        () => (clearTimeout(overdue), o.exit(1), resolve()),
      );
    }));
}

/**
 * Whether this process's parent is gone: the IPC channel closed, or the
 * process was re-parented (to init or a subreaper). The channel's
 * "disconnect" event says so at once; this is the check for when that event
 * was missed (it fires once, possibly before a listener was attached).
 */
export function orphaned(p: { connected?: boolean; ppid: number }, parentPid: number): boolean {
  return p.connected === false || p.ppid !== parentPid;
}
