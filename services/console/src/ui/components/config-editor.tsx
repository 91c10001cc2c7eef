import { useMemo, useRef, useState } from "preact/hooks";
import { checkYaml, formatYamlProblem, type YamlProblem } from "../yaml-check.js";

export interface ConfigEditorProps {
  initialText: string;
  /** Called only with text that parses; resolves to a line telling what happened. */
  onPush: (text: string) => Promise<string>;
}

/**
 * A YAML editor that checks the text as it is typed and refuses to push
 * while it has syntax errors; each error names its line and column, and
 * clicking it puts the cursor there.
 */
export function ConfigEditor({ initialText, onPush }: ConfigEditorProps) {
  const [text, setText] = useState(initialText);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | undefined>();
  const [busy, setBusy] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  const problems = useMemo(() => checkYaml(text), [text]);

  const jumpTo = (p: YamlProblem) => {
    const el = area.current;
    if (!el) return;
    const lines = text.split("\n");
    const offset = lines.slice(0, p.line - 1).reduce((n, l) => n + l.length + 1, 0) + p.column - 1;
    el.focus();
    el.setSelectionRange(offset, offset);
  };

  const push = async () => {
    // Checked again at the moment of pushing: the button is not the only guard.
    if (checkYaml(text).length > 0) {
      setOutcome({ ok: false, text: "Not pushed: fix the YAML errors first." });
      return;
    }
    setBusy(true);
    try {
      setOutcome({ ok: true, text: await onPush(text) });
    } catch (err) {
      setOutcome({ ok: false, text: err instanceof Error ? err.message : String(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="editor">
      <textarea
        ref={area}
        data-testid="config-editor"
        spellcheck={false}
        rows={Math.min(Math.max(text.split("\n").length + 1, 8), 30)}
        value={text}
        onInput={(e) => {
          setText(e.currentTarget.value);
          setOutcome(undefined);
        }}
      />
      {problems.length > 0 ? (
        <ul class="problems" data-testid="yaml-errors" role="alert">
          {problems.map((p) => (
            <li>
              <button type="button" class="link" onClick={() => jumpTo(p)}>
                {formatYamlProblem(p)}
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p class="ok" data-testid="yaml-ok">
          YAML is valid.
        </p>
      )}
      <button data-testid="config-push" disabled={busy} onClick={() => void push()}>
        Push config
      </button>
      {outcome && (
        <span class={outcome.ok ? "ok" : "error"} data-testid="config-outcome" role="status">
          {" "}
          {outcome.text}
        </span>
      )}
    </div>
  );
}
