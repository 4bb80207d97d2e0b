import { Code, ConnectError } from "@connectrpc/connect";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { Operation } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { api, shownError, type ShownError } from "./api.js";

export interface WatchState {
  /** The operation as the latest message showed it. */
  op?: Operation;
  /**
   * "live" while messages may still come; "reconnecting" while waiting to watch again after the
   * server or the network went away; "done" after the operation came done; "stopped" after an error.
   */
  phase: "live" | "reconnecting" | "done" | "stopped";
  /** Why the stream ended early. */
  error?: ShownError;
  /** Watches again after an error. */
  retry(): void;
}

/** The longest wait between two attempts to watch again while the server is unavailable. */
const MAX_BACKOFF_MS = 10_000;

/**
 * How long to wait before watching again after `err`, or undefined when watching again cannot help.
 * `failures` counts the unavailable attempts since the last message. A watch outliving
 * server.max_timeout_ms (WATCH_TIME_LIMIT) is renewed at once; a server that is going away
 * (UNAVAILABLE: shutting down, a proxy's 502/503/504), a dropped connection (fetch's TypeError)
 * or a server following too many watches (RESOURCE_EXHAUSTED) is tried again after 0.5 s, doubling to 10 s.
 */
export function rewatchDelay(err: ConnectError, failures: number): number | undefined {
  if (err.code === Code.DeadlineExceeded && err.findDetails(ErrorInfoSchema)[0]?.reason === "WATCH_TIME_LIMIT") return 0;
  // Too many watches is retryable too: after dropped connections the server counts the orphaned ones until they end.
  if (err.code === Code.Unavailable || err.code === Code.ResourceExhausted || err.cause instanceof TypeError) return Math.min(MAX_BACKOFF_MS, 500 * 2 ** failures);
  return undefined;
}

/**
 * Follows an operation with WatchOperation (server streaming over gRPC-web): the state changes
 * with each message and the stream ends when the operation is done. A stream the server ends by
 * its time limit, or lost to a restart, is watched again by itself (rewatchDelay); other errors
 * stop, for the operator to retry. Leaving the page (unmounting) or watching another operation
 * cancels the stream (its AbortController), so the server stops too.
 */
export function useWatch(id: string | undefined, first?: Operation): WatchState {
  const [state, setState] = useState<Omit<WatchState, "retry">>(() => ({ ...(first && { op: first }), phase: first?.done ? "done" : "live" }));
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!id) return;
    const abort = new AbortController();
    setState((s) => ({ ...(s.op?.id === id && { op: s.op }), phase: "live" }));
    void (async () => {
      let failures = 0;
      for (;;) {
        try {
          for await (const m of api.watchOperation({ id }, { signal: abort.signal })) {
            if (abort.signal.aborted) return;
            failures = 0;
            const op = m.operation;
            if (op) setState({ op, phase: op.done ? "done" : "live" });
          }
          if (!abort.signal.aborted) setState((s) => ({ ...s, phase: s.op?.done ? "done" : "stopped" }));
          return;
        } catch (err) {
          if (abort.signal.aborted) return;
          const e = ConnectError.from(err);
          const wait = rewatchDelay(e, failures);
          if (wait === undefined) {
            setState((s) => ({ ...s, phase: "stopped", error: shownError(e) }));
            return;
          }
          // Renewing a watch at its time limit is routine and goes unannounced; a wait is shown.
          if (wait > 0) {
            failures++;
            setState((s) => ({ ...s, phase: "reconnecting" }));
            if (!(await pause(wait, abort.signal))) return;
          }
        }
      }
    })();
    return () => abort.abort();
  }, [id, tick]);
  const retry = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, retry };
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", stop);
      resolve(true);
    }, ms);
    function stop() {
      clearTimeout(timer);
      resolve(false);
    }
    signal.addEventListener("abort", stop, { once: true });
  });
}

/** The operation's progress in one line, for the polite live region: totals across providers. */
export function progressLine(op: Operation): string {
  const sum = (f: (p: Operation["providers"][number]) => number) => op.providers.reduce((n, p) => n + f(p), 0);
  const failing = sum((p) => p.failures.length);
  const parts = [`Ended ${sum((p) => p.sessionsEnded)}`, `Already ended ${sum((p) => p.sessionsAlreadyEnded)}`, `Pending ${sum((p) => p.sessionsPending)}`, `Failures ${failing}`];
  return `${op.done ? "Done" : "In progress"}: ${parts.join(", ")}.`;
}
