import { bearer } from "./service.js";

/** One delivery as ListDeliveries answers it (proto3 JSON field names). */
export interface DeliveryView {
  receiver: string;
  state: string;
  attempts: number;
  jti: string;
  userId?: string;
  sessionId?: string;
  lastError?: { status?: number; err?: string; message?: string };
}

/** Every delivery of a receiver (all pages), through ListDeliveries, with a key holding session.read. */
export async function listDeliveries(baseUrl: string, key: string, filter: { receiver?: string; state?: string } = {}): Promise<DeliveryView[]> {
  const out: DeliveryView[] = [];
  let pageToken = "";
  do {
    const res = await fetch(`${baseUrl}/sessioncontrol.v1.SessionControl/ListDeliveries`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(key) },
      body: JSON.stringify({ ...filter, pageSize: 100, pageToken }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`ListDeliveries answered ${res.status}: ${text}`);
    const page = JSON.parse(text) as { deliveries?: DeliveryView[]; nextPageToken?: string };
    out.push(...(page.deliveries ?? []));
    pageToken = page.nextPageToken ?? "";
  } while (pageToken !== "");
  return out;
}
