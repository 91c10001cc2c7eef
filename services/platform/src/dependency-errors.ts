/**
 * Thrown by adapters when a dependency (database, bus, another service) cannot
 * be reached. Callers answer "unavailable, retry later" instead of "internal".
 */
export class DependencyUnavailableError extends Error {
  constructor(
    readonly dependency: string,
    options?: { cause?: unknown },
  ) {
    super(`${dependency} is unavailable; retry later`, options);
    this.name = "DependencyUnavailableError";
  }
}

/**
 * What was thrown, as an Error: a batch answers each of its items with its
 * outcome or the Error it met (AgentStore.mutateMany, saveMany), and a
 * thrown non-Error must not read as an outcome.
 */
export function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}
