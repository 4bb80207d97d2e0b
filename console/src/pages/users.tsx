import { useState } from "preact/hooks";
import type { Operation, ProviderSessions, TerminateResponse } from "../../../gen/sessioncontrol/v1/session_control_pb.js";
import { api, requestId, shownError, shownFailure, when, type ShownError } from "../api.js";
import { href, navigate } from "../router.js";
import { ErrorBox, LiveOperation, Link, Loading, useCall } from "../ui.js";
import { Pager, usePaging } from "./paging.js";
import { SessionsTable } from "./sessions-table.js";

/** Find a user by id. */
export function UsersPage() {
  const [userId, setUserId] = useState("");
  return (
    <>
      <h1 tabIndex={-1}>Users</h1>
      <p class="muted">Open a user to see their sessions, end one, or sign them out everywhere.</p>
      <form
        class="filters"
        aria-label="Open a user"
        onSubmit={(e) => {
          e.preventDefault();
          if (userId.trim()) navigate(href({ page: "user", userId: userId.trim() }));
        }}
      >
        <div class="field">
          <label for="user-id">User id</label>
          <input id="user-id" name="user" required value={userId} onInput={(e) => setUserId(e.currentTarget.value)} />
        </div>
        <div class="actions">
          <button type="submit">Open user</button>
        </div>
      </form>
    </>
  );
}

/**
 * One user: their sessions in the embedded store (end one), their sessions in every other provider
 * (ListUserSessions: end one there), and sign out everywhere, followed live. When a sign-out
 * everywhere is done, both listings are read again.
 */
export function UserPage(props: { userId: string }) {
  const { userId } = props;
  const [version, setVersion] = useState(0);
  return (
    <>
      <h1 tabIndex={-1}>
        User <code>{userId}</code>
      </h1>
      <Sessions userId={userId} version={version} />
      <AcrossProviders userId={userId} version={version} />
      <SignOutEverywhere userId={userId} onDone={() => setVersion((v) => v + 1)} />
    </>
  );
}

function Sessions({ userId, version }: { userId: string; version: number }) {
  const paging = usePaging();
  const providers = useCall(() => api.listProviders({}), []);
  const sessions = useCall(() => api.listSessions({ userId, pageSize: 50, pageToken: paging.token }), [userId, paging.token, version]);
  const ender = useEnder(sessions.reload);
  // The embedded store's provider; when providers cannot be listed, the default one is asked.
  const local = providers.data?.providers.find((p) => p.type === "local")?.name ?? "";
  const end = (sessionId: string) =>
    ender.end(sessionId, { sessionId, userId, provider: local }, (res) => (res.alreadyTerminated ? `Session ${sessionId} had already ended.` : `Session ${sessionId} ended.`));

  return (
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions in the embedded store</h2>
      <EndReason id="end-reason" label="Reason for ending a session (kept in the audit trail)" ender={ender} />
      {sessions.loading && !sessions.data && <Loading />}
      {sessions.error && <ErrorBox error={sessions.error} />}
      {sessions.data && (
        <>
          <SessionsTable
            label={`Sessions of ${userId}`}
            caption={sessions.data.sessions.length === 0 ? "No sessions in the embedded store" : `${sessions.data.sessions.length} sessions, newest first`}
            withExpiry
            busy={ender.ending !== undefined}
            rows={sessions.data.sessions.map((s) => ({
              id: s.id,
              created: s.creationDate,
              expires: s.expirationDate ? when(s.expirationDate) : "never",
              active: !s.termination,
              ...(s.termination && { ended: `${when(s.termination.terminateDate)} by ${s.termination.terminatedBy}${s.termination.reason && `: ${s.termination.reason}`}` }),
              endLabel: `End session ${s.id}`,
              ending: ender.ending === s.id,
              end: () => void end(s.id),
            }))}
          />
          <Pager label="Sessions" paging={paging} nextToken={sessions.data.nextPageToken} />
        </>
      )}
    </section>
  );
}

/** The user's sessions in each provider other than the embedded store: a section per provider, answered or failed on its own. */
function AcrossProviders({ userId, version }: { userId: string; version: number }) {
  const call = useCall(() => api.listUserSessions({ userId }), [userId, version]);
  const ender = useEnder(call.reload);
  const parts = call.data?.providers.filter((p) => p.type !== "local") ?? [];
  const end = (part: ProviderSessions, sessionId: string, sessionUser: string) => {
    const what = `Session ${sessionId} in ${part.provider}`;
    return ender.end(`${part.provider}/${sessionId}`, { sessionId, userId: sessionUser || part.providerUserId, provider: part.provider }, (res) =>
      res.allUserSessions ? `${part.provider} ended every session of the user at once.` : res.alreadyTerminated ? `${what} had already ended.` : `${what} ended.`,
    );
  };

  return (
    <section aria-labelledby="providers-title">
      <h2 id="providers-title">Sessions in other providers</h2>
      {call.loading && !call.data && <Loading />}
      {call.error && <ErrorBox error={call.error} title="The user's sessions could not be listed" />}
      {call.data && parts.length === 0 && <p class="muted">No provider other than the embedded store is configured.</p>}
      {parts.length > 0 && <EndReason id="provider-end-reason" label="Reason for ending a provider's session (kept in the audit trail)" ender={ender} />}
      {parts.map((part) => (
        <section key={part.provider} class="provider-part" aria-labelledby={`part-${part.provider}`}>
          <h3 id={`part-${part.provider}`}>
            {part.provider} <span class="muted">({part.type}, user {part.providerUserId || userId})</span>
          </h3>
          {part.failure ? (
            <ErrorBox error={shownFailure(part.failure)} title={`${part.provider} could not list the sessions`} quiet />
          ) : part.cannotList ? (
            <p>Cannot list: {part.provider} ends all of a user's sessions at once, so it does not say which there are. "Sign out everywhere" ends them.</p>
          ) : (
            <SessionsTable
              label={`Sessions in ${part.provider}`}
              caption={part.sessions.length === 0 ? `No sessions in ${part.provider}` : part.truncated ? `The first ${part.sessions.length} sessions in ${part.provider} (it has more)` : `${part.sessions.length} sessions in ${part.provider}`}
              busy={ender.ending !== undefined}
              rows={part.sessions.map((s) => ({
                id: s.id,
                created: s.createTime,
                active: s.active,
                endLabel: `End session ${s.id} in ${part.provider}`,
                ending: ender.ending === `${part.provider}/${s.id}`,
                end: () => void end(part, s.id, s.userId),
              }))}
            />
          )}
        </section>
      ))}
    </section>
  );
}

/** Ending one session at a time, with a reason: which one is being ended, and what came of the last. */
function useEnder(reload: () => void) {
  const [reason, setReason] = useState("");
  const [ending, setEnding] = useState<string>();
  const [ended, setEnded] = useState<string>();
  const [error, setError] = useState<ShownError>();
  const end = async (key: string, which: { sessionId: string; userId: string; provider: string }, say: (res: TerminateResponse) => string) => {
    setEnding(key);
    setError(undefined);
    setEnded(undefined);
    try {
      setEnded(say(await api.terminate({ ...which, reason: reason.trim(), requestId: requestId() })));
      reload();
    } catch (err) {
      setError(shownError(err));
    } finally {
      setEnding(undefined);
    }
  };
  return { reason, setReason, ending, ended, error, end };
}

/** The reason field of an End button, and what came of the last End: announced, or the failure. */
function EndReason(props: { id: string; label: string; ender: ReturnType<typeof useEnder> }) {
  const { ender } = props;
  return (
    <>
      <div class="field">
        <label for={props.id}>{props.label}</label>
        <input id={props.id} name={props.id} value={ender.reason} onInput={(e) => ender.setReason(e.currentTarget.value)} />
      </div>
      <p role="status" class="done">
        {ender.ended}
      </p>
      {ender.error && <ErrorBox error={ender.error} title="The session was not ended" />}
    </>
  );
}

function SignOutEverywhere({ userId, onDone }: { userId: string; onDone: () => void }) {
  const [reason, setReason] = useState("");
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ShownError>();
  const [operation, setOperation] = useState<Operation>();

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const headers = code.trim() ? { "x-2fa-code": code.trim() } : undefined;
      const res = await api.terminateUser({ userId, reason: reason.trim(), requestId: requestId() }, headers ? { headers } : {});
      setOperation(res.operation);
      setCode("");
    } catch (err) {
      setError(shownError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="everywhere-title">
      <h2 id="everywhere-title">Sign out everywhere</h2>
      <p class="muted">Ends every session of this user in the embedded store and in every configured provider.</p>
      <form class="filters" aria-label="Sign out everywhere" onSubmit={submit}>
        <div class="field">
          <label for="everywhere-reason">Reason (required)</label>
          <input id="everywhere-reason" name="reason" required value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="everywhere-code">Step-up code (x-2fa-code), when your key needs one</label>
          <input
            id="everywhere-code"
            name="code"
            inputMode="numeric"
            autocomplete="one-time-code"
            pattern="[0-9]{6,8}"
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
        </div>
        <div class="actions">
          <button type="submit" class="danger" disabled={busy}>
            {busy ? "Signing out…" : "Sign out everywhere"}
          </button>
        </div>
      </form>
      {error && <ErrorBox error={error} title="Sign-out everywhere failed" />}
      {operation && (
        <div class="result">
          <p role="status">
            Operation started: <Link to={{ page: "operation", id: operation.id }}>open operation {operation.id}</Link>
          </p>
          <LiveOperation key={operation.id} id={operation.id} first={operation} headingLevel={3} onDone={onDone} />
        </div>
      )}
    </section>
  );
}
