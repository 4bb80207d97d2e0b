import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { when } from "../api.js";
import { Table } from "../ui.js";

/** A session as a table row, from the embedded store or from a provider. */
export interface SessionRow {
  id: string;
  created: Timestamp | undefined;
  /** When it expires, in words; shown only in a table with the Expires column. */
  expires?: string;
  active: boolean;
  /** How an ended session ended (when, by whom, why), where the store says. */
  ended?: string;
  /** The End button's accessible name (the id alone is ambiguous across providers). */
  endLabel: string;
  /** True while this session is being ended. */
  ending: boolean;
  end(): void;
}

/** A user's sessions with an End button on each active one; one End at a time (`busy` while one runs). */
export function SessionsTable(props: { label: string; caption: string; withExpiry?: boolean; rows: SessionRow[]; busy: boolean }) {
  const columns = ["Session", "Created", ...(props.withExpiry ? ["Expires"] : []), "State", "Action"];
  return (
    <Table label={props.label} caption={props.caption} columns={columns}>
      {props.rows.map((r) => (
        <tr key={r.id}>
          <th scope="row">
            <code>{r.id}</code>
          </th>
          <td>{when(r.created)}</td>
          {props.withExpiry && <td>{r.expires}</td>}
          <td>
            {r.active ? (
              <span class="badge ok">active</span>
            ) : (
              <>
                <span class="badge">ended</span>
                {r.ended && ` ${r.ended}`}
              </>
            )}
          </td>
          <td>
            {r.active && (
              <button type="button" class="danger" aria-label={r.endLabel} disabled={props.busy} onClick={r.end}>
                {r.ending ? "Ending…" : "End"}
              </button>
            )}
          </td>
        </tr>
      ))}
    </Table>
  );
}
