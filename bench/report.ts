import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";

const RESULTS = join(import.meta.dirname, "results");

export type Row = Record<string, string | number>;

/** Prints rows as an aligned table (column order of the first row). */
export function printTable(title: string, rows: Row[]): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]!);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? "").length)));
  const line = (cells: string[]) => "  " + cells.map((c, i) => c.padEnd(width[i]!)).join("  ");
  process.stdout.write(`\n${title}\n${line(cols)}\n${line(width.map((w) => "-".repeat(w)))}\n`);
  for (const r of rows) process.stdout.write(line(cols.map((c) => String(r[c] ?? ""))) + "\n");
}

/** Writes a scenario's figures, with the machine they ran on, under bench/results/. */
export function saveResult(scenario: string, rows: Row[]): string {
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `${new Date().toISOString().replace(/[:.]/g, "-")}-${scenario}.json`);
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "", memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
  writeFileSync(file, JSON.stringify({ scenario, at: new Date().toISOString(), machine, rows }, null, 2) + "\n");
  return file;
}

export const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
export const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
