/**
 * Runs tasks for the same key one after another (tasks for different keys run
 * concurrently). A report and an admin change to the same agent must not
 * interleave their read-modify-write; the map only holds keys with work queued.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /**
   * Runs `task` once it holds every key (each after the tasks queued for it
   * before). Keys are taken one at a time in sorted order, so two runAll
   * calls over overlapping keys cannot each hold one the other waits for;
   * a `run` holds one key only. Every key is held until the task settles.
   */
  async runAll<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    try {
      for (const key of [...new Set(keys)].sort()) await new Promise<void>((held) => void this.run(key, () => (held(), released)));
      return await task();
    } finally {
      release();
    }
  }

  get size(): number {
    return this.tails.size;
  }
}
