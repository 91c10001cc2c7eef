import { parseAllDocuments } from "yaml";

/** One syntax error in the editor's text, 1-based like an editor shows it. */
export interface YamlProblem {
  line: number;
  column: number;
  message: string;
}

/**
 * Syntax errors of a YAML text (every document of a stream), so a broken
 * config is never pushed to an agent. Empty text is valid.
 */
export function checkYaml(text: string): YamlProblem[] {
  // An empty stream is an empty array: no documents, no errors.
  const errors = parseAllDocuments(text).flatMap((d) => d.errors);
  return errors.map((e) => {
    const at = e.linePos?.[0];
    return { line: at?.line ?? 1, column: at?.col ?? 1, message: firstSentence(e.message) };
  });
}

/** "line 3, column 7: Implicit keys need to be on a single line" */
export function formatYamlProblem(p: YamlProblem): string {
  return `line ${p.line}, column ${p.column}: ${p.message}`;
}

/**
 * The yaml package appends " at line L, column C:" and a code excerpt to its
 * messages; the console shows position and message separately.
 */
function firstSentence(message: string): string {
  return (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "");
}
