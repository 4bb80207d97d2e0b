import { useState } from "preact/hooks";
import type { ListFailure, Operation, ProviderSessions } from "../../../gen/sessioncontrol/v1/session_control_pb.js";
import { api, requestId, shownError, when, type ShownError } from "../api.js";
import { href, navigate } from "../router.js";
import { ErrorBox, LiveOperation, Link, Loading, Scroll, useCall } from "../ui.js";
import { Pager, usePaging } from "./paging.js";

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
  const [reason, setReason] = useState("");
  const [ending, setEnding] = useState<string>();
  const [ended, setEnded] = useState<string>();
  const [error, setError] = useState<ShownError>();
  // The embedded store's provider; when providers cannot be listed, the default one is asked.
  const local = providers.data?.providers.find((p) => p.type === "local")?.name ?? "";

  const end = async (sessionId: string) => {
    setEnding(sessionId);
    setError(undefined);
    setEnded(undefined);
    try {
      const res = await api.terminate({ sessionId, userId, provider: local, reason: reason.trim(), requestId: requestId() });
      setEnded(res.alreadyTerminated ? `Session ${sessionId} had already ended.` : `Session ${sessionId} ended.`);
      sessions.reload();
    } catch (err) {
      setError(shownError(err));
    } finally {
      setEnding(undefined);
    }
  };

  return (
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions in the embedded store</h2>
      <div class="field">
        <label for="end-reason">Reason for ending a session (kept in the audit trail)</label>
        <input id="end-reason" name="end-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </div>
      <p role="status" class="done">
        {ended}
      </p>
      {error && <ErrorBox error={error} title="The session was not ended" />}
      {sessions.loading && !sessions.data && <Loading />}
      {sessions.error && <ErrorBox error={sessions.error} />}
      {sessions.data && (
        <>
          <Scroll label={`Sessions of ${userId}`}>
            <table>
              <caption>{sessions.data.sessions.length === 0 ? "No sessions in the embedded store" : `${sessions.data.sessions.length} sessions, newest first`}</caption>
              <thead>
                <tr>
                  <th scope="col">Session</th>
                  <th scope="col">Created</th>
                  <th scope="col">Expires</th>
                  <th scope="col">State</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {sessions.data.sessions.map((s) => (
                  <tr key={s.id}>
                    <th scope="row">
                      <code>{s.id}</code>
                    </th>
                    <td>{when(s.creationDate)}</td>
                    <td>{s.expirationDate ? when(s.expirationDate) : "never"}</td>
                    <td>
                      {s.termination ? (
                        <>
                          <span class="badge">ended</span> {when(s.termination.terminateDate)} by {s.termination.terminatedBy}
                          {s.termination.reason && `: ${s.termination.reason}`}
                        </>
                      ) : (
                        <span class="badge ok">active</span>
                      )}
                    </td>
                    <td>
                      {!s.termination && (
                        <button type="button" class="danger" aria-label={`End session ${s.id}`} disabled={ending !== undefined} onClick={() => void end(s.id)}>
                          {ending === s.id ? "Ending…" : "End"}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Scroll>
          <Pager label="Sessions" paging={paging} nextToken={sessions.data.nextPageToken} />
        </>
      )}
    </section>
  );
}

/** The user's sessions in each provider other than the embedded store: a section per provider, answered or failed on its own. */
function AcrossProviders({ userId, version }: { userId: string; version: number }) {
  const call = useCall(() => api.listUserSessions({ userId }), [userId, version]);
  const [reason, setReason] = useState("");
  const [ending, setEnding] = useState<string>();
  const [ended, setEnded] = useState<string>();
  const [error, setError] = useState<ShownError>();
  const parts = call.data?.providers.filter((p) => p.type !== "local") ?? [];

  const end = async (part: ProviderSessions, sessionId: string, sessionUser: string) => {
    const key = `${part.provider}/${sessionId}`;
    setEnding(key);
    setError(undefined);
    setEnded(undefined);
    try {
      const res = await api.terminate({ sessionId, userId: sessionUser || part.providerUserId, provider: part.provider, reason: reason.trim(), requestId: requestId() });
      const what = `Session ${sessionId} in ${part.provider}`;
      setEnded(res.allUserSessions ? `${part.provider} ended every session of the user at once.` : res.alreadyTerminated ? `${what} had already ended.` : `${what} ended.`);
      call.reload();
    } catch (err) {
      setError(shownError(err));
    } finally {
      setEnding(undefined);
    }
  };

  return (
    <section aria-labelledby="providers-title">
      <h2 id="providers-title">Sessions in other providers</h2>
      {call.loading && !call.data && <Loading />}
      {call.error && <ErrorBox error={call.error} title="The user's sessions could not be listed" />}
      {call.data && parts.length === 0 && <p class="muted">No provider other than the embedded store is configured.</p>}
      {parts.length > 0 && (
        <>
          <div class="field">
            <label for="provider-end-reason">Reason for ending a provider's session (kept in the audit trail)</label>
            <input id="provider-end-reason" name="provider-end-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
          </div>
          <p role="status" class="done">
            {ended}
          </p>
          {error && <ErrorBox error={error} title="The session was not ended" />}
        </>
      )}
      {parts.map((part) => (
        <section key={part.provider} class="provider-part" aria-labelledby={`part-${part.provider}`}>
          <h3 id={`part-${part.provider}`}>
            {part.provider} <span class="muted">({part.type}, user {part.providerUserId || userId})</span>
          </h3>
          {part.failure ? (
            <ErrorBox error={listFailure(part.failure)} title={`${part.provider} could not list the sessions`} quiet />
          ) : part.cannotList ? (
            <p>Cannot list: {part.provider} ends all of a user's sessions at once, so it does not say which there are. "Sign out everywhere" ends them.</p>
          ) : (
            <Scroll label={`Sessions in ${part.provider}`}>
              <table>
                <caption>{part.sessions.length === 0 ? `No sessions in ${part.provider}` : `${part.sessions.length} sessions in ${part.provider}`}</caption>
                <thead>
                  <tr>
                    <th scope="col">Session</th>
                    <th scope="col">Created</th>
                    <th scope="col">State</th>
                    <th scope="col">Action</th>
                  </tr>
                </thead>
                <tbody>
                  {part.sessions.map((s) => (
                    <tr key={s.id}>
                      <th scope="row">
                        <code>{s.id}</code>
                      </th>
                      <td>{when(s.createTime)}</td>
                      <td>{s.active ? <span class="badge ok">active</span> : <span class="badge">ended</span>}</td>
                      <td>
                        {s.active && (
                          <button
                            type="button"
                            class="danger"
                            aria-label={`End session ${s.id} in ${part.provider}`}
                            disabled={ending !== undefined}
                            onClick={() => void end(part, s.id, s.userId)}
                          >
                            {ending === `${part.provider}/${s.id}` ? "Ending…" : "End"}
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Scroll>
          )}
        </section>
      ))}
    </section>
  );
}

/** A provider's failed listing, shown like a failed call. */
function listFailure(f: ListFailure): ShownError {
  const m = f.metadata;
  return {
    code: f.code,
    message: f.message,
    ...(f.reason && { reason: f.reason }),
    ...(f.domain && { domain: f.domain }),
    ...(m["upstream_status"] && { upstreamStatus: m["upstream_status"] }),
    ...(m["upstream_code"] && { upstreamCode: m["upstream_code"] }),
    ...(m["upstream_message"] && { upstreamMessage: m["upstream_message"] }),
  };
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
