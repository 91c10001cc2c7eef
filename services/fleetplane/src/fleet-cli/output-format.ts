import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { stringify } from "yaml";

export type OutputFormat = "table" | "json" | "yaml";

/** Rows under a header, columns padded to their widest cell (as kubectl prints). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("   ") + "\n";
  return line(header) + rows.map(line).join("");
}

/** Messages in the API's JSON form (what the Connect JSON protocol returns), as a JSON array or a YAML list. */
export function structured<D extends DescMessage>(schema: D, messages: readonly MessageShape<D>[], format: "json" | "yaml"): string {
  const plain = messages.map((m) => toJson(schema, m));
  return format === "json" ? JSON.stringify(plain, null, 2) + "\n" : stringify(plain);
}
