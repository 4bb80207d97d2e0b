import { api, when } from "../api.js";
import { CallStatus, Table, useCall } from "../ui.js";

/** Every configured provider: its type, its breaker, and what this service last saw of it. */
export function ProvidersPage() {
  const call = useCall(() => api.listProviders({}), []);
  return (
    <>
      <h1 tabIndex={-1}>Providers</h1>
      <p class="muted">What this service has seen of each upstream, from its own calls.</p>
      <button type="button" class="secondary" onClick={call.reload} disabled={call.loading}>
        Refresh
      </button>
      <CallStatus call={call} />
      {call.data && (
        <Table
          label="Providers"
          caption={`${call.data.providers.length} configured providers`}
          columns={["Name", "Type", "Breaker", "Last success", "Last error", "Last error code"]}
        >
          {call.data.providers.map((p) => (
            <tr key={p.name}>
              <th scope="row">
                {p.name}
                {p.isDefault && <span class="badge">default</span>}
              </th>
              <td>{p.type}</td>
              <td>
                <span class={`badge breaker-${p.health?.breakerState ?? "unknown"}`}>{p.health?.breakerState || "—"}</span>
              </td>
              <td>{when(p.health?.lastSuccessTime)}</td>
              <td>{when(p.health?.lastErrorTime)}</td>
              <td>{p.health?.lastErrorCode ? <code class="code">{p.health.lastErrorCode}</code> : "—"}</td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}
