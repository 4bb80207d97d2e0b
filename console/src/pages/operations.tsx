import { useState } from "preact/hooks";
import { api, when } from "../api.js";
import { CallStatus, LiveOperation, Link, Table, useCall } from "../ui.js";
import { Pager, usePaging } from "./paging.js";

/** Every sign-out-everywhere, newest first, optionally of one user. */
export function OperationsPage() {
  const [draft, setDraft] = useState("");
  const [userId, setUserId] = useState("");
  const paging = usePaging();
  const call = useCall(() => api.listOperations({ userId, pageSize: 25, pageToken: paging.token }), [userId, paging.token]);
  return (
    <>
      <h1 tabIndex={-1}>Operations</h1>
      <form
        class="filters"
        aria-label="Filter operations"
        onSubmit={(e) => {
          e.preventDefault();
          setUserId(draft.trim());
          paging.reset();
        }}
      >
        <div class="field">
          <label for="ops-user">User id</label>
          <input id="ops-user" name="user" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
        </div>
        <div class="actions">
          <button type="submit">Apply filter</button>
        </div>
      </form>
      <CallStatus call={call} />
      {call.data && (
        <>
          <Table
            label="Operations"
            caption={call.data.operations.length === 0 ? "No operations" : `${call.data.operations.length} operations, newest first`}
            columns={["Operation", "User", "State", "Reason", "Asked by", "Created", "Sessions ended", "Failures"]}
          >
            {call.data.operations.map((op) => (
              <tr key={op.id}>
                <th scope="row">
                  <Link to={{ page: "operation", id: op.id }}>
                    <code>{op.id}</code>
                  </Link>
                </th>
                <td>{op.userId}</td>
                <td>
                  <span class={op.done ? "badge ok" : "badge busy"}>{op.done ? "done" : "in progress"}</span>
                </td>
                <td>{op.reason || "—"}</td>
                <td>{op.principal}</td>
                <td>{when(op.createTime)}</td>
                <td>{op.providers.reduce((n, p) => n + p.sessionsEnded, 0)}</td>
                <td>{op.providers.reduce((n, p) => n + p.failures.length, 0)}</td>
              </tr>
            ))}
          </Table>
          <Pager label="Operations" paging={paging} nextToken={call.data.nextPageToken} />
        </>
      )}
    </>
  );
}

/** One operation in detail, its progress followed live (WatchOperation) until it is done. */
export function OperationPage(props: { id: string }) {
  return (
    <>
      <h1 tabIndex={-1}>Operation</h1>
      <p>
        <Link to={{ page: "operations" }}>All operations</Link>
      </p>
      <LiveOperation id={props.id} />
    </>
  );
}
