import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useState } from "preact/hooks";
import { api, when } from "../api.js";
import { CallStatus, Link, Table, useCall } from "../ui.js";
import { Pager, usePaging } from "./paging.js";

interface Filters {
  userId: string;
  sessionId: string;
  principal: string;
  provider: string;
  from: string;
  to: string;
  pageSize: string;
}

const NONE: Filters = { userId: "", sessionId: "", principal: "", provider: "", from: "", to: "", pageSize: "50" };

/** A datetime-local value (the operator's local time) as a Timestamp. */
function stamp(local: string) {
  return local ? timestampFromDate(new Date(local)) : undefined;
}

/** Every attempt to end a session, newest first, filtered as the operator asks, page by page. */
export function AuditPage() {
  const [draft, setDraft] = useState<Filters>(NONE);
  const [filters, setFilters] = useState<Filters>(NONE);
  const paging = usePaging();
  const call = useCall(
    () =>
      api.listEvents({
        userId: filters.userId.trim(),
        sessionId: filters.sessionId.trim(),
        principal: filters.principal.trim(),
        provider: filters.provider.trim(),
        startTime: stamp(filters.from),
        endTime: stamp(filters.to),
        pageSize: Number(filters.pageSize) || 50,
        pageToken: paging.token,
      }),
    [filters, paging.token],
  );
  const field = (name: keyof Filters, label: string, type: "text" | "datetime-local" = "text") => (
    <div class="field">
      <label for={`audit-${name}`}>{label}</label>
      <input id={`audit-${name}`} name={name} {...(type === "text" ? { type: "text" as const } : { type: "datetime-local" as const })} value={draft[name]} onInput={(e) => setDraft({ ...draft, [name]: e.currentTarget.value })} />
    </div>
  );

  return (
    <>
      <h1 tabIndex={-1}>Audit trail</h1>
      <form
        class="filters"
        aria-label="Filter the audit trail"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
          paging.reset();
        }}
      >
        {field("userId", "User id")}
        {field("sessionId", "Session id")}
        {field("principal", "Principal")}
        {field("provider", "Provider")}
        {field("from", "From (local time)", "datetime-local")}
        {field("to", "Before (local time)", "datetime-local")}
        <div class="field">
          <label for="audit-pageSize">Per page</label>
          <select id="audit-pageSize" name="pageSize" value={draft.pageSize} onChange={(e) => setDraft({ ...draft, pageSize: e.currentTarget.value })}>
            {["10", "25", "50", "100"].map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        <div class="actions">
          <button type="submit">Apply filters</button>
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setDraft(NONE);
              setFilters(NONE);
              paging.reset();
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <CallStatus call={call} />
      {call.data && (
        <>
          <Table
            label="Audit events"
            caption={call.data.events.length === 0 ? "No events match" : `${call.data.events.length} events, newest first`}
            columns={["#", "Time", "Principal", "Provider", "Session", "User", "Result", "Reason given", "Operation"]}
          >
            {call.data.events.map((e) => (
              <tr key={String(e.id)}>
                <td>{String(e.id)}</td>
                <td>{when(e.time)}</td>
                <td>{e.principal}</td>
                <td>{e.provider}</td>
                <td>
                  <code>{e.sessionId}</code>
                </td>
                <td>{e.userId ? <Link to={{ page: "user", userId: e.userId }}>{e.userId}</Link> : "—"}</td>
                <td>
                  <code class={e.code === "OK" ? "ok" : "code"}>{e.code}</code>
                  {e.alreadyTerminated && " (already ended)"}
                  {e.errorReason && (
                    <>
                      {" "}
                      <code class="reason">{e.errorReason}</code>
                    </>
                  )}
                  {e.errorMessage && <p class="failure">{e.errorMessage}</p>}
                </td>
                <td>{e.reason || "—"}</td>
                <td>{e.operationId ? <Link to={{ page: "operation", id: e.operationId }}><code>{e.operationId}</code></Link> : "—"}</td>
              </tr>
            ))}
          </Table>
          <Pager label="Audit trail" paging={paging} nextToken={call.data.nextPageToken} />
        </>
      )}
    </>
  );
}
