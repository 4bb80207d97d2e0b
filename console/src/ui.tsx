import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import type { Operation } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { shownError, when, type ShownError } from "./api.js";
import { href, onLinkClick, type Route } from "./router.js";
import { progressLine, useWatch } from "./watch.js";

export function Link(props: { to: Route; children: ComponentChildren; current?: boolean }) {
  return (
    <a href={href(props.to)} onClick={onLinkClick} aria-current={props.current ? "page" : undefined}>
      {props.children}
    </a>
  );
}

/** A failed call, in words: the gRPC code, ErrorInfo's reason and domain, and what the upstream answered. */
export function ErrorBox(props: { error: ShownError; title?: string; quiet?: boolean }) {
  const e = props.error;
  return (
    // A quiet box is part of what a page shows (a provider's failed listing), not news to announce.
    <div class="error" role={props.quiet ? undefined : "alert"}>
      <p class="error-title">
        <strong>{props.title ?? "The call failed"}:</strong> <code class="code">{e.code}</code>
        {e.reason && (
          <>
            {" "}
            <code class="reason">{e.reason}</code>
          </>
        )}
      </p>
      <p class="error-message">{e.message}</p>
      {(e.domain || e.upstreamMessage || e.upstreamStatus || e.upstreamCode) && (
        <dl class="pairs">
          {e.domain && <Pair name="Where">{e.domain}</Pair>}
          {e.upstreamStatus && <Pair name="Upstream status">{e.upstreamStatus}</Pair>}
          {e.upstreamCode && <Pair name="Upstream code">{e.upstreamCode}</Pair>}
          {e.upstreamMessage && <Pair name="Upstream said">{e.upstreamMessage}</Pair>}
        </dl>
      )}
    </div>
  );
}

export function Pair(props: { name: string; children: ComponentChildren }) {
  return (
    <div class="pair">
      <dt>{props.name}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}

/** A table that scrolls sideways on a narrow screen, reachable and scrollable by keyboard. */
function Scroll(props: { label: string; children: ComponentChildren }) {
  return (
    <div class="scroll" role="region" aria-label={props.label} tabIndex={0}>
      {props.children}
    </div>
  );
}

/** A table in its own scrolling region: a caption, a header row naming the columns, and the rows given as children. */
export function Table(props: { label: string; caption: string; columns: string[]; children: ComponentChildren }) {
  return (
    <Scroll label={props.label}>
      <table>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </Scroll>
  );
}

export function Loading() {
  return (
    <p class="muted" role="status">
      Loading…
    </p>
  );
}

/** A call's loading note and its error, if any: what every page shows above the call's answer. */
export function CallStatus(props: { call: Pick<CallState<unknown>, "loading" | "error"> }) {
  return (
    <>
      {props.call.loading && <Loading />}
      {props.call.error && <ErrorBox error={props.call.error} />}
    </>
  );
}

export interface CallState<T> {
  data?: T;
  error?: ShownError;
  loading: boolean;
  reload(): void;
}

/** Runs a call when its inputs change; the latest answer wins. */
export function useCall<T>(call: () => Promise<T>, inputs: unknown[]): CallState<T> {
  const [state, setState] = useState<{ data?: T; error?: ShownError; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    call().then(
      (data) => live && setState({ data, loading: false }),
      (err: unknown) => live && setState({ error: shownError(err), loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...inputs, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** One sign-out-everywhere: who, why, and each provider's progress with its failures. */
export function OperationView(props: { op: Operation; headingLevel?: 2 | 3 }) {
  const { op } = props;
  const H = props.headingLevel === 3 ? "h3" : "h2";
  return (
    <section class="operation" aria-labelledby={`op-${op.id}`}>
      <H id={`op-${op.id}`}>
        Operation <code>{op.id}</code>
      </H>
      <dl class="pairs">
        <Pair name="State">
          <span class={op.done ? "badge ok" : "badge busy"}>{op.done ? "done" : "in progress"}</span>
        </Pair>
        <Pair name="User">
          <Link to={{ page: "user", userId: op.userId }}>{op.userId}</Link>
        </Pair>
        <Pair name="Reason">{op.reason || "—"}</Pair>
        <Pair name="Asked by">{op.principal}</Pair>
        <Pair name="Created">{when(op.createTime)}</Pair>
        <Pair name="Updated">{when(op.updateTime)}</Pair>
        <Pair name="Retries until">{when(op.expireTime)}</Pair>
      </dl>
      <Table label={`Progress of operation ${op.id} per provider`} caption="Progress per provider" columns={["Provider", "User there", "Listed", "Ended", "Already ended", "Pending", "Failures"]}>
        {op.providers.map((p) => (
          <tr key={p.provider}>
            <th scope="row">{p.provider}</th>
            <td>{p.providerUserId || "—"}</td>
            <td>{p.listed ? "yes" : "no"}</td>
            <td>{p.sessionsEnded}</td>
            <td>{p.sessionsAlreadyEnded}</td>
            <td>{p.sessionsPending}</td>
            <td>
              {p.failures.length === 0
                ? "none"
                : p.failures.map((f, i) => (
                    <p key={i} class="failure">
                      <code class="code">{f.code}</code> <code class="reason">{f.reason}</code>
                      {f.sessionId && <> session {f.sessionId}</>}: {f.message}
                      {f.retrying ? ` (retrying, ${f.attempts} attempts so far)` : ` (${f.attempts} attempts)`}
                    </p>
                  ))}
            </td>
          </tr>
        ))}
      </Table>
    </section>
  );
}

/**
 * An operation followed live with WatchOperation: the table changes as messages arrive, a polite
 * live region says the totals, and the stream ends when the operation is done (or the page changes).
 * While the stream is lost it says so and watches again by itself; after any other stream error the
 * last progress stays, with the error and a way to watch again.
 */
export function LiveOperation(props: { id: string; first?: Operation; headingLevel?: 2 | 3; onDone?: () => void }) {
  const watch = useWatch(props.id, props.first);
  const onDone = useRef(props.onDone);
  onDone.current = props.onDone;
  useEffect(() => {
    if (watch.phase === "done") onDone.current?.();
  }, [watch.phase]);
  return (
    <div class="live">
      <p role="status" aria-live="polite" aria-atomic="true" class="progress-line">
        {watch.op ? progressLine(watch.op) : watch.phase === "live" || watch.phase === "reconnecting" ? "Waiting for the operation…" : "The operation is not shown."}
        {watch.phase === "live" && watch.op && " Following live."}
        {watch.phase === "reconnecting" && " Connection lost: reconnecting…"}
      </p>
      {watch.error && <ErrorBox error={watch.error} title="Following the operation stopped" />}
      {watch.phase === "stopped" && (
        // The one way left to refresh: only after the stream stopped before the operation was done.
        <button type="button" class="secondary" onClick={watch.retry}>
          Watch again
        </button>
      )}
      {watch.op && <OperationView op={watch.op} {...(props.headingLevel && { headingLevel: props.headingLevel })} />}
    </div>
  );
}
