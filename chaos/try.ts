import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runFuzz } from "./src/fuzz.ts";
import { ServerProcess, standaloneCommand } from "./src/server-process.ts";
const r = await runFuzz({ seed: 42, inputs: Number(process.argv[2] ?? 300), startServer: () => ServerProcess.start(standaloneCommand(mkdtempSync(join(tmpdir(), "chaos-")))), progress: console.log });
console.log(JSON.stringify(r, null, 1));
