import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SessionControl, type Delivery } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { bearer } from "./service.js";

/** Every delivery (all pages) through ListDeliveries over gRPC, with a key holding session.read; `receiver` is "receiver:<name>" or "stream:<id>". */
export async function listDeliveries(baseUrl: string, key: string, filter: { receiver?: string; state?: string } = {}): Promise<Delivery[]> {
  const client = createClient(SessionControl, createGrpcTransport({ baseUrl }));
  const out: Delivery[] = [];
  let pageToken = "";
  do {
    const page = await client.listDeliveries({ ...filter, pageSize: 100, pageToken }, { headers: bearer(key), timeoutMs: 5_000 });
    out.push(...page.deliveries);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return out;
}
