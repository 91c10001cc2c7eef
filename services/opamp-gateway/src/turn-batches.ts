/**
 * Gathers what callers ask for in the same turn of the event loop into one
 * call: `send` gets up to `max` items and answers each, in order, with its
 * result or the Error it met; a failing call fails every item it carried.
 * Under load that amortizes a call's cost (HTTP/2 stream, Connect's context
 * on both sides) over hundreds of items; when idle an item waits only for
 * the current turn to end. The gateway's reports (report-batcher.ts) and
 * pulls (pull-batcher.ts) to agent-service go through one.
 */
export class TurnBatches<T, R> {
  private queue: Array<{ item: T; resolve: (r: R) => void; reject: (err: unknown) => void }> = [];
  private scheduled = false;

  constructor(
    private readonly max: number,
    private readonly send: (batch: T[]) => Promise<Array<R | Error>>,
  ) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.max) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = this.queue.length > this.max; // more than one batch waiting: keep draining
    const batch = this.queue.splice(0, this.max);
    if (this.scheduled) setImmediate(() => this.flush());
    if (batch.length === 0) return;
    this.send(batch.map((p) => p.item)).then(
      (results) => {
        batch.forEach((p, i) => {
          const r = results[i];
          if (r instanceof Error) p.reject(r);
          else p.resolve(r as R);
        });
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err);
      },
    );
  }
}
