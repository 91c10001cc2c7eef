import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";

const MAIN = join(import.meta.dirname, "..", "..", "services", "fleetplane", "src", "main.ts");

/** How to start the process under test: our standalone server, or (to prove a check can fail) a stub. */
export interface ServerCommand {
  /** Arguments after `node`; the process must print the standalone banner ("OpAMP: ws://…", "Admin API: http://…", then "Data: …") on stderr. */
  args: string[];
}

/** Fleetplane standalone on `dataDir`, OpAMP and admin API on the given ports (0: any free one). */
export function standaloneCommand(dataDir: string, ports: { opamp?: number; api?: number } = {}, extraArgs: string[] = []): ServerCommand {
  return {
    args: [
      "--import",
      "tsx",
      MAIN,
      "standalone",
      "--opamp-port",
      String(ports.opamp ?? 0),
      "--api-port",
      String(ports.api ?? 0),
      "--data-dir",
      dataDir,
      "--no-console",
      // Every malformed input writes a warning (issue 15 item 5): keep them,
      // they are what the abuse scenarios count.
      "--log-level",
      "warn",
      ...extraArgs,
    ],
  };
}

/**
 * A line of the server's output that means it lost control: a fatal log
 * entry, or Node's report of an unhandled rejection or uncaught exception
 * (Node 20 prints those on stderr and exits).
 */
const LOST_CONTROL = /"level":\s*(60|"fatal")|unhandled|uncaught/i;

/**
 * The server under test as a child process: its addresses, whether it is
 * still alive, every line it printed that shows it lost control, and how
 * many lines it logged. Chaos scenarios judge the server by these alone.
 */
export class ServerProcess {
  /** Lines (stdout or stderr) that show a crash or an unhandled error, in order. */
  readonly lostControl: string[] = [];
  /** The last lines it printed, for the report when it dies. */
  private readonly recentLines: string[] = [];
  /** Log lines written (stdout JSON entries and stderr lines after start-up). */
  linesLogged = 0;
  /** Set when the process exited (by itself, or killed). */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;
  private killedByUs = false;

  private constructor(
    readonly child: ChildProcess,
    readonly opampWsUrl: string,
    readonly apiUrl: string,
    /** The admin API key the server printed at its first start on an empty store; undefined on a restart (keep the first one). */
    readonly adminKey: string | undefined,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.exit = { code: child.exitCode, signal: child.signalCode };
        return resolve();
      }
      child.once("exit", (code, signal) => {
        this.exit = { code, signal };
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get opampHttpUrl(): string {
    return this.opampWsUrl.replace(/^ws/, "http");
  }

  /** True while the process runs; an exit we did not ask for is a crash. */
  get alive(): boolean {
    return this.exit === undefined;
  }

  /** Why the server is not healthy, or undefined: it died by itself, or printed a fatal / unhandled error. */
  problem(): string | undefined {
    if (this.exit && !this.killedByUs) return `server exited by itself (code ${this.exit.code}, signal ${this.exit.signal}); last lines: ${this.recentLines.join(" | ")}`;
    if (this.lostControl.length > 0) return `server lost control: ${this.lostControl[0]}`;
    return undefined;
  }

  static async start(command: ServerCommand, options: { startTimeoutMs?: number; cwd?: string } = {}): Promise<ServerProcess> {
    const child = spawn(process.execPath, command.args, { stdio: ["ignore", "pipe", "pipe"], ...(options.cwd ? { cwd: options.cwd } : {}) });
    let server: ServerProcess | undefined;
    const early: string[] = [];
    const watch = (line: string) => {
      if (!server) {
        early.push(line);
        return;
      }
      server.linesLogged++;
      server.recentLines.push(line.slice(0, 300));
      if (server.recentLines.length > 8) server.recentLines.shift();
      if (LOST_CONTROL.test(line)) server.lostControl.push(line.slice(0, 2_000));
    };
    createInterface({ input: child.stdout! }).on("line", watch);
    const urls = await new Promise<{ opamp: string; api: string; key: string | undefined }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not print its addresses within ${(options.startTimeoutMs ?? 30_000) / 1000} s: ${early.join("\n")}`)), options.startTimeoutMs ?? 30_000);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`server exited during start-up (code ${code}, signal ${signal}): ${early.slice(-20).join("\n")}`));
      });
      let opamp = "";
      let api = "";
      let key: string | undefined;
      // The banner ends with "Data:"; the first start on an empty store
      // prints the first admin key before it.
      createInterface({ input: child.stderr! }).on("line", (line) => {
        const o = /OpAMP:\s+(ws:\/\/\S+)/.exec(line);
        if (o) opamp = o[1]!;
        const a = /Admin API:\s+(http:\/\/\S+)/.exec(line);
        if (a) api = a[1]!;
        const k = /Admin key:\s+(\S+)/.exec(line);
        if (k) key = k[1]!;
        if (/^\s*Data:\s+/.test(line) && opamp && api) {
          clearTimeout(timer);
          resolve({ opamp, api, key });
          return;
        }
        watch(line);
      });
    });
    child.removeAllListeners("exit");
    server = new ServerProcess(child, urls.opamp, urls.api, urls.key);
    return server;
  }

  /** Resolves once the process exited or `ms` passed; true if it exited. */
  async exitsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    return !this.alive;
  }

  /** kill -9: the crash the kill loop inflicts (not counted as the server's own). */
  async kill9(): Promise<void> {
    this.killedByUs = true;
    if (this.alive) this.child.kill("SIGKILL");
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  async stop(graceMs = 20_000): Promise<void> {
    this.killedByUs = true;
    if (!this.alive) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
