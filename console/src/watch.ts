import { useCallback, useEffect, useState } from "preact/hooks";
import type { Operation } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { api, shownError, type ShownError } from "./api.js";

export interface WatchState {
  /** The operation as the latest message showed it. */
  op?: Operation;
  /** "live" while messages may still come; "done" after the operation came done; "stopped" after an error. */
  phase: "live" | "done" | "stopped";
  /** Why the stream ended early. */
  error?: ShownError;
  /** Watches again after an error. */
  retry(): void;
}

/**
 * Follows an operation with WatchOperation (server streaming over gRPC-web): the state changes
 * with each message and the stream ends when the operation is done. Leaving the page (unmounting)
 * or watching another operation cancels the stream (its AbortController), so the server stops too.
 */
export function useWatch(id: string | undefined, first?: Operation): WatchState {
  const [state, setState] = useState<Omit<WatchState, "retry">>(() => ({ ...(first && { op: first }), phase: first?.done ? "done" : "live" }));
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!id) return;
    const abort = new AbortController();
    setState((s) => ({ ...(s.op?.id === id && { op: s.op }), phase: "live" }));
    void (async () => {
      try {
        for await (const m of api.watchOperation({ id }, { signal: abort.signal })) {
          if (abort.signal.aborted) return;
          const op = m.operation;
          if (op) setState({ op, phase: op.done ? "done" : "live" });
        }
        if (!abort.signal.aborted) setState((s) => ({ ...s, phase: s.op?.done ? "done" : "stopped" }));
      } catch (err) {
        if (abort.signal.aborted) return;
        setState((s) => ({ ...s, phase: "stopped", error: shownError(err) }));
      }
    })();
    return () => abort.abort();
  }, [id, tick]);
  const retry = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, retry };
}

/** The operation's progress in one line, for the polite live region: totals across providers. */
export function progressLine(op: Operation): string {
  const sum = (f: (p: Operation["providers"][number]) => number) => op.providers.reduce((n, p) => n + f(p), 0);
  const failing = sum((p) => p.failures.length);
  const parts = [`Ended ${sum((p) => p.sessionsEnded)}`, `Already ended ${sum((p) => p.sessionsAlreadyEnded)}`, `Pending ${sum((p) => p.sessionsPending)}`, `Failures ${failing}`];
  return `${op.done ? "Done" : "In progress"}: ${parts.join(", ")}.`;
}
