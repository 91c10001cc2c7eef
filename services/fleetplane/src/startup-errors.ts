/**
 * What a newcomer sees when the server cannot start because of the machine,
 * not a bug: a port already taken, a data directory that cannot be made.
 * One line naming the flag to change, instead of a Node stack trace. Errors
 * are recognised by their system error code and syscall, never by text.
 */
interface SystemError extends Error {
  code?: string;
  syscall?: string;
  address?: string;
  port?: number;
  path?: string;
}

const LISTEN_REASONS: Record<string, string> = {
  EADDRINUSE: "the address is already in use (is another Fleetplane or program running on it?)",
  EACCES: "permission denied (ports below 1024 need privileges)",
  EADDRNOTAVAIL: "the address is not available on this machine",
};

const PATH_REASONS: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOTDIR: "a part of the path is a file, not a directory",
  ENOENT: "a part of the path does not exist",
  ENOSPC: "no space left on the device",
};

/**
 * The one-line explanation of a start-up failure, or undefined when the error
 * is not one the user can fix with a flag. `values` are the parsed options
 * (flag name → value), so the flag whose value the error names is reported.
 */
export function explainStartupError(err: unknown, values: Record<string, unknown>): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as SystemError;
  if (e.syscall === "listen" && e.code && LISTEN_REASONS[e.code]) {
    const flag = Object.keys(values).find((name) => name.endsWith("port") && Number(values[name]) === e.port);
    const where = `${e.address ?? "?"}:${e.port ?? "?"}`;
    return `cannot listen on ${where}${flag ? ` (--${flag})` : ""}: ${LISTEN_REASONS[e.code]}${flag ? `; choose another with --${flag}` : ""}`;
  }
  if (e.code && PATH_REASONS[e.code] && e.path && typeof values["data-dir"] === "string" && isWithin(e.path, values["data-dir"])) {
    return `--data-dir ${values["data-dir"]}: cannot use it (${e.syscall ?? "open"} ${e.path}: ${PATH_REASONS[e.code]}); choose a writable directory with --data-dir`;
  }
  return undefined;
}

function isWithin(path: string, dir: string): boolean {
  const d = dir.replace(/\/+$/, "");
  return path === d || path.startsWith(`${d}/`) || d.startsWith(`${path}/`) || d === path;
}

/** A start-up failure explained in one line; main prints it without a stack trace and exits 1. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StartupError";
  }
}

/** Runs `start`; a failure the user can fix with a flag becomes a StartupError naming it. */
export async function startExplained<T>(start: () => Promise<T>, values: Record<string, unknown>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    const explained = explainStartupError(err, values);
    throw explained ? new StartupError(explained, { cause: err }) : err;
  }
}
