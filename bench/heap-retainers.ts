/**
 * Retaining paths of one kind of object in a heap snapshot (bench/idle-anatomy.ts finds
 * which kinds grow per agent; this says who holds them).
 *
 *   npx tsx bench/heap-retainers.ts FILE.heapsnapshot "native system / JSArrayBufferData" [depth]
 */
import { readFileSync } from "node:fs";
import { retainersOf } from "./heap-summary.js";

const [file, name, depth] = process.argv.slice(2);
if (!file || !name) throw new Error("usage: heap-retainers.ts FILE.heapsnapshot NAME [depth]");
for (const r of retainersOf(readFileSync(file, "utf8"), name, Number(depth ?? 4)).slice(0, 25)) process.stdout.write(`${String(r.bytes).padStart(10)} B ${String(r.count).padStart(7)} ×  ${r.path}\n`);
