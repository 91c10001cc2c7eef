import { describe, expect, it } from "vitest";
import { checkYaml, formatYamlProblem } from "./yaml-check.js";

describe("checkYaml", () => {
  it("accepts valid YAML, several documents and empty text", () => {
    expect(checkYaml("receivers:\n  otlp: {}\n")).toEqual([]);
    expect(checkYaml("a: 1\n---\nb: 2\n")).toEqual([]);
    expect(checkYaml("")).toEqual([]);
  });

  it("names the line and column of each error, without the parser's code excerpt", () => {
    const problems = checkYaml("receivers:\n  otlp: [grpc\nexporters: {debug: {}\n");
    expect(problems.map((p) => [p.line, p.column])).toEqual([
      [3, 1],
      [4, 1],
    ]);
    expect(problems[0]!.message).not.toContain("\n");
    expect(problems[0]!.message).not.toMatch(/at line/);
    expect(formatYamlProblem(problems[0]!)).toMatch(/^line 3, column 1: Flow sequence .* end with a \]$/);
  });

  it("finds errors in a later document of a stream", () => {
    expect(checkYaml("a: 1\n---\nb: }\n")[0]).toMatchObject({ line: 3, column: 4 });
  });
});
