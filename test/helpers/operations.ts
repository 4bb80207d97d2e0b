import type { Client } from "@connectrpc/connect";
import type { Operation, SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { until, type UntilOptions } from "./wait.js";

/**
 * Polls GetOperation until the operation is done, and returns it. On timeout the message shows the
 * operation's last progress, and `progress()` (e.g. what an upstream fake has seen), when given.
 */
export function operationDone(
  client: Client<typeof SessionControl>,
  id: string,
  headers: Record<string, string>,
  opts: UntilOptions & { progress?: () => string } = {},
): Promise<Operation> {
  const { progress, ...wait } = opts;
  let last: Operation | undefined;
  return until(
    () => `operation ${id} to be done${progress ? ` (${progress()})` : ""}; its providers: ${JSON.stringify(last?.providers, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`,
    async () => {
      last = (await client.getOperation({ id }, { headers })).operation;
      return last?.done ? last : undefined;
    },
    { everyMs: 25, ...wait },
  );
}
