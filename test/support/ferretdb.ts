import { spawn, type ChildProcess } from "node:child_process";
import { ensureTool, stopChild } from "./child-process.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";

const ROOT = join(import.meta.dirname, "..", "..");
const START_TIMEOUT_MS = 30_000;
// FerretDB waits for open client connections to time out (about 3 s) before
// it exits on SIGTERM; past this bound it is killed.
const STOP_GRACE_MS = 10_000;

export interface RunningFerretDb {
  /** mongodb://127.0.0.1:<port>/ as FerretDB printed it. */
  uri: string;
  port: number;
  /** Where the SQLite files live; start again with this and `port` to bring the same database back. */
  dataDir: string;
  /**
   * Stops the server (SIGTERM, then SIGKILL after a bound) and waits for it
   * to exit. Keeps the data unless `removeData` (for the final stop).
   */
  stop(o?: { removeData?: boolean }): Promise<void>;
  /**
   * Freezes the server (SIGSTOP): its sockets stay open and accept, but
   * nothing answers — a hung database, unlike a stopped one, which refuses.
   * `thaw` (SIGCONT) lets it go on; stop thaws it first.
   */
  freeze(): void;
  thaw(): void;
}

let binary: Promise<string> | undefined;

/** The FerretDB binary: $FLEETPLANE_FERRETDB, or our wrapper built once by scripts/ensure-tools.sh. */
export function ferretDbBinary(): Promise<string> {
  const fromEnv = process.env.FLEETPLANE_FERRETDB;
  if (fromEnv) return Promise.resolve(fromEnv);
  binary ??= ensureTool("ferretdb", "FLEETPLANE_FERRETDB").catch((err: unknown) => {
    binary = undefined; // let a later call try the build again
    throw err;
  });
  return binary;
}

/**
 * A real FerretDB 1.x (MongoDB wire protocol, SQLite backend) on loopback.
 * Without a port it binds port 0 and reports the port it got; without a
 * data directory it uses a fresh temporary one. Starting again with the same
 * port and dataDir brings the same database back, which is how tests
 * simulate a database outage.
 */
export async function startFerretDb(o: { port?: number; dataDir?: string } = {}): Promise<RunningFerretDb> {
  const bin = await ferretDbBinary();
  const dataDir = o.dataDir ?? temporaryDataDir();
  const listenAddr = `127.0.0.1:${o.port ?? 0}`;
  const child = spawn(bin, ["--listen-addr", listenAddr, "--sqlite-dir", dataDir, "--log-level", "warn"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  registerCleanup();
  running.add(child);
  child.once("exit", () => running.delete(child));
  // FerretDB logs every dropped client connection at shutdown: keep the
  // tail for error messages instead of flooding the test output.
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));

  const deadline = Date.now() + START_TIMEOUT_MS;
  try {
    const uri = await printedUri(child, deadline);
    await waitForPing(uri, child, deadline);
    const port = Number(new URL(uri).port);
    let stopping: Promise<void> | undefined;
    return {
      uri,
      port,
      dataDir,
      async stop(o = {}) {
        if (child.exitCode === null) child.kill("SIGCONT"); // a frozen process would not act on SIGTERM
        await (stopping ??= stopChild(child, "SIGTERM", STOP_GRACE_MS));
        if (o.removeData) rmSync(dataDir, { recursive: true, force: true });
      },
      freeze: () => void child.kill("SIGSTOP"),
      thaw: () => void child.kill("SIGCONT"),
    };
  } catch (err) {
    await stopChild(child, "SIGTERM", STOP_GRACE_MS);
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`FerretDB (${bin}) did not start on ${listenAddr} with data in ${dataDir}: ${reason}\n${stderr}`, { cause: err });
  }
}

/** The wrapper prints the MongoDB URI on stdout once its listener is bound. */
function printedUri(child: ChildProcess, deadline: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => finish(new Error(`no URI on stdout within ${START_TIMEOUT_MS / 1000} s`)), deadline - Date.now());
    const onData = (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n")[0]!;
      if (out.includes("\n")) finish(line.startsWith("mongodb://") ? line.trim() : new Error(`unexpected first line on stdout: ${line}`));
    };
    const onExit = (code: number | null, signal: string | null) => finish(new Error(`exited (code ${code}, signal ${signal}) before printing its URI`));
    function finish(result: string | Error) {
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      child.off("exit", onExit);
      if (typeof result === "string") resolve(result);
      else reject(result);
    }
    child.stdout!.on("data", onData);
    child.once("exit", onExit);
  });
}

/** A bound listener is not yet a serving database: ping until FerretDB answers. */
async function waitForPing(uri: string, child: ChildProcess, deadline: number): Promise<void> {
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (code ${child.exitCode}, signal ${child.signalCode}) before answering ping`);
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 1_000, connectTimeoutMS: 1_000 });
    try {
      await client.db("admin").command({ ping: 1 });
      return;
    } catch (err) {
      lastError = err;
    } finally {
      await client.close();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer to ping within ${START_TIMEOUT_MS / 1000} s (last error: ${String(lastError)})`);
}

function temporaryDataDir(): string {
  return mkdtempSync(join(tmpdir(), "fleetplane-ferretdb-"));
}

// Servers still running, killed when this process exits so a test that
// failed before its stop() leaves no FerretDB behind. Best effort only: the
// "exit" event does not fire when a test runner kills its worker, so tests
// still stop their servers in afterAll.
const running = new Set<ChildProcess>();
let cleanupRegistered = false;

function registerCleanup(): void {
  if (cleanupRegistered) return;
  cleanupRegistered = true;
  process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}
