import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { errorText } from "./api.js";
import { onAgentChange } from "./live-updates.js";
import type { Agent } from "@fleetplane/gen/fleetplane/agent/v1/agent_pb";

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` now and whenever `deps` change or reload() is called; the newest answer wins. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const call = ++latest.current;
    setLoading(true);
    load().then(
      (d) => call === latest.current && (setData(d), setError(undefined), setLoading(false)),
      (e: unknown) => call === latest.current && (setError(errorText(e)), setLoading(false)),
    );
    // eslint-style exhaustive deps do not apply: the caller names what matters.
  }, [...deps, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { data, error, loading, reload };
}

/**
 * Calls `refresh` when the watch stream reports an agent change that
 * `matters`, at most once per `intervalMs` (a burst of changes from a busy
 * fleet costs one reload, not one per agent).
 */
export function useLiveRefresh(refresh: () => void, intervalMs: number, matters: (agent: Agent) => boolean = () => true): void {
  const refreshRef = useRef(refresh);
  const mattersRef = useRef(matters);
  refreshRef.current = refresh;
  mattersRef.current = matters;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = 0;
    const stop = onAgentChange((agent) => {
      if (timer || !mattersRef.current(agent)) return;
      const wait = Math.max(0, last + intervalMs - Date.now());
      timer = setTimeout(() => {
        timer = undefined;
        last = Date.now();
        refreshRef.current();
      }, wait);
    });
    return () => {
      stop();
      if (timer) clearTimeout(timer);
    };
  }, [intervalMs]);
}
