import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { stopChild } from "../test/support/child-process.js";
import { freePort } from "../test/support/free-port.js";
import { startStandaloneServer, type ServerUnderTest } from "./fleetplane-server.js";
import { startOpampGoServer } from "./peers.js";

/**
 * The servers `pnpm bench peers` can measure: four built in by name, or any
 * OpAMP server given on the command line (`--peer name=<endpoint> [command]`).
 * Every one is measured the same way: the simulator talks OpAMP to its
 * WebSocket endpoint, and its CPU and memory are read from its process.
 */
export type PeerStart = () => Promise<ServerUnderTest>;

const TOOLS_BIN = join(process.env.FLEETPLANE_TOOLS_DIR ?? join(homedir(), ".cache", "fleetplane", "tools"), "bin");

/** The peers built in, by the name given to --peers. */
export const BUILT_IN_PEERS: Record<string, PeerStart> = {
  fleetplane: () => startStandaloneServer(),
  /** Fleetplane standalone with two gateway workers (not in the default set). */
  "fleetplane-2w": () => startStandaloneServer({ workers: 2 }),
  "opamp-go-server": startOpampGoServer,
  "opamp-example": startOpampExampleServer,
  commander: startCommander,
};

export class PeerSpecError extends Error {}

/**
 * A peer given as `name=<ws:// endpoint>` (a server already running: its
 * process is found by the port it listens on) or `name=<endpoint> <command…>`
 * (the bench starts the command, fresh for each scenario, and stops it with
 * SIGTERM). `{port}` in either is replaced by a free port.
 */
export function peerFromSpec(spec: string): { name: string; start: PeerStart } {
  const eq = spec.indexOf("=");
  if (eq <= 0) throw new PeerSpecError(`--peer "${spec}": expected name=<ws://endpoint> [command...]`);
  const name = spec.slice(0, eq);
  const [endpoint, ...command] = spec.slice(eq + 1).trim().split(/\s+/);
  if (!endpoint || !/^wss?:\/\//.test(endpoint)) throw new PeerSpecError(`--peer "${spec}": the endpoint must be a ws:// URL, got "${endpoint ?? ""}"`);
  return {
    name,
    async start() {
      const port = endpoint.includes("{port}") || command.some((c) => c.includes("{port}")) ? String(await freePort()) : "";
      const url = endpoint.replaceAll("{port}", port);
      if (command.length === 0) {
        const pid = pidListeningOn(Number(new URL(url).port));
        if (!pid) throw new PeerSpecError(`--peer ${name}: no process of ours listens on ${url} (start it, or give its command after the endpoint)`);
        return { name, opampWsUrl: url, gatewayPid: pid, pids: [pid], stop: async () => {} };
      }
      return startCommandPeer(name, url, command.map((c) => c.replaceAll("{port}", port)), {});
    },
  };
}

/** Starts a server command, waits for its port to accept connections. */
async function startCommandPeer(name: string, url: string, argv: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; cleanup?: () => void }): Promise<ServerUnderTest> {
  // The peers log per message (the opamp-go example twice); their output is
  // written, as it would be in production, but not read.
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], cwd: o.cwd, env: { ...process.env, ...o.env } });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`${name} exited with ${code} before listening: ${stderr.trim().slice(-1000)}`))));
  await Promise.race([untilAccepting(Number(new URL(url).port), 60_000, name), exited]);
  return {
    name,
    opampWsUrl: url,
    gatewayPid: child.pid!,
    pids: [child.pid!],
    async stop() {
      await stopChild(child, "SIGTERM", 10_000);
      o.cleanup?.();
    },
  };
}

async function untilAccepting(port: number, timeoutMs: number, name: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name} did not listen on 127.0.0.1:${port} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The process listening on a TCP port on this machine (/proc/net/tcp{,6}, then the process whose fd is that socket). */
export function pidListeningOn(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== "0A") continue; // 0A: LISTEN
      if (parseInt(f[1]!.split(":")[1]!, 16) === port) inodes.add(f[9]!);
    }
  }
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return Number(pid);
      }
    } catch {
      // Not ours to read, or gone.
    }
  }
  return undefined;
}

function builtBinary(link: string, script: string): string {
  const path = join(TOOLS_BIN, link);
  if (!existsSync(path)) throw new PeerSpecError(`${path} is missing: build it with ${script} (see README "Performance")`);
  return path;
}

/**
 * opamp-go's example server (internal/examples/server at v0.23.0), built by
 * scripts/build-peer-opamp-example-server.sh with its OpAMP listener patched
 * to loopback (127.0.0.1:24320 unless OPAMP_EXAMPLE_LISTEN was set) and TLS
 * off. Run from an empty directory; its web UI is on a free loopback port.
 */
export async function startOpampExampleServer(): Promise<ServerUnderTest> {
  const listen = process.env.OPAMP_EXAMPLE_LISTEN ?? "127.0.0.1:24320";
  const candidates = readdirSync(TOOLS_BIN).filter((f) => f.startsWith("opamp-example-server-") && f.endsWith(listen.replace(/[:.]/g, "_")));
  if (candidates.length === 0) throw new PeerSpecError(`no opamp-go example server listening on ${listen} in ${TOOLS_BIN}: build it with scripts/build-peer-opamp-example-server.sh <opamp-go checkout> (see README "Performance")`);
  const cwd = mkdtempSync(join(tmpdir(), "opamp-example-"));
  return startCommandPeer("opamp-go example server", `ws://${listen}/v1/opamp`, [join(TOOLS_BIN, candidates.sort().at(-1)!)], { cwd, cleanup: () => rmSync(cwd, { recursive: true, force: true }) });
}

/**
 * OpAMP Commander's API server, built by scripts/build-peer-commander.sh,
 * with its repository's configs/apiserver/standalone.yaml (in-memory
 * database, events off) on loopback ports, log level warn, GIN_MODE=release.
 */
export async function startCommander(): Promise<ServerUnderTest> {
  const binary = builtBinary("opampcommander-apiserver", "scripts/build-peer-commander.sh <opampcommander checkout>");
  const checkout = readFileSync(`${binary}.checkout`, "utf8").trim();
  const [port, managementPort] = [await freePort(), await freePort()];
  const shipped = readFileSync(join(checkout, "configs", "apiserver", "standalone.yaml"), "utf8");
  const config = rewriteCommanderConfig(shipped, { address: `127.0.0.1:${port}`, management: `127.0.0.1:${managementPort}`, bootstrapDir: join(checkout, "configs", "apiserver", "initial") });
  const dir = mkdtempSync(join(tmpdir(), "opampcommander-"));
  writeFileSync(join(dir, "standalone.yaml"), config);
  return startCommandPeer("OpAMP Commander", `ws://127.0.0.1:${port}/api/v1/opamp`, [binary, "--config", join(dir, "standalone.yaml")], {
    cwd: checkout,
    env: { GIN_MODE: "release" },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}

/** Commander's shipped standalone configuration with our addresses and log level; fails loudly if its layout changed. */
export function rewriteCommanderConfig(yaml: string, o: { address: string; management: string; bootstrapDir: string }): string {
  const swaps: Array<[RegExp, string]> = [
    [/^address: .*$/m, `address: ${o.address}`],
    [/^(management:\n(?:[ \t].*\n)*?)\s+address: .*$/m, `$1  address: ${o.management}`],
    [/^(\s+log:\n\s+level: )\w+/m, "$1warn"],
    [/^(\s+dir: ).*$/m, `$1${o.bootstrapDir}`],
  ];
  let out = yaml;
  for (const [re, to] of swaps) {
    if (!re.test(out)) throw new PeerSpecError(`Commander's standalone.yaml changed: ${re} no longer matches`);
    out = out.replace(re, to);
  }
  return out;
}
