import type { StoredStreamConfig, StreamDelivery, StreamRecord } from "../store/stream-types.js";
import { invalidArgument, type FieldViolation } from "../status/failure.js";
import { SESSION_REVOKED } from "./set-claims.js";

/** Push delivery (RFC 8935), the one delivery method served. */
export const PUSH_DELIVERY = "urn:ietf:rfc:8935";
const EVENTS_SUPPORTED: readonly string[] = [SESSION_REVOKED];

/** SSF 1.0 §8.1.1 lets the transmitter truncate a long description. */
const MAX_DESCRIPTION = 1024;
/** An HTTP field value: visible ASCII, spaces and tabs (no CR or LF). */
const HEADER_VALUE = /^[\x21-\x7e][\x20-\x7e\t]*$/;

/** The Receiver-Supplied properties of a stream (SSF 1.0 §8.1.1); a request may leave any out. */
export interface ReceiverSupplied {
  delivery?: StreamDelivery;
  events_requested?: string[];
  description?: string;
}

/** SSF 1.0 §8.1.1: seconds that must pass between a stream's verification requests; sooner is 429. */
export const MIN_VERIFICATION_INTERVAL_S = 30;

/** A stream's configuration as answered: no authorization_header, a secret of the receiver's. */
export interface StreamView {
  stream_id: string;
  iss: string;
  aud: string;
  delivery: { method: string; endpoint_url: string };
  events_supported: string[];
  events_requested?: string[];
  events_delivered: string[];
  min_verification_interval: number;
  description?: string;
}

export function streamView(r: StreamRecord, iss: string): StreamView {
  const c = r.config;
  return {
    stream_id: r.streamId,
    iss,
    aud: c.aud,
    delivery: { method: c.delivery.method, endpoint_url: c.delivery.endpoint_url },
    events_supported: [...EVENTS_SUPPORTED],
    ...(c.events_requested && { events_requested: c.events_requested }),
    events_delivered: c.events_delivered,
    min_verification_interval: MIN_VERIFICATION_INTERVAL_S,
    ...(c.description !== undefined && { description: c.description }),
  };
}

/** The Receiver-Supplied properties present in a request, checked; unknown properties are ignored. */
export function receiverSupplied(body: Record<string, unknown>, violations: FieldViolation[]): ReceiverSupplied {
  const given: ReceiverSupplied = {};
  if (body["delivery"] !== undefined) {
    const delivery = deliveryOf(body["delivery"], violations);
    if (delivery) given.delivery = delivery;
  }
  const events = body["events_requested"];
  if (events !== undefined) {
    if (Array.isArray(events) && events.every((e) => typeof e === "string")) given.events_requested = events;
    else violations.push({ field: "events_requested", description: "must be an array of event type URIs" });
  }
  const description = body["description"];
  if (description !== undefined) {
    if (typeof description === "string") given.description = description.slice(0, MAX_DESCRIPTION);
    else violations.push({ field: "description", description: "must be a string" });
  }
  return given;
}

/** A request's delivery: push only, to an http(s) URL without credentials; never quotes the authorization_header. */
function deliveryOf(value: unknown, violations: FieldViolation[]): StreamDelivery | undefined {
  if (!isObject(value)) {
    violations.push({ field: "delivery", description: "must be an object" });
    return undefined;
  }
  const before = violations.length;
  const { method, endpoint_url: url, authorization_header: authorization } = value;
  if (method !== PUSH_DELIVERY) violations.push({ field: "delivery.method", description: `only push delivery (${PUSH_DELIVERY}) is supported` });
  const parsed = typeof url === "string" && URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) violations.push({ field: "delivery.endpoint_url", description: "must be an http or https URL" });
  else if (parsed.username || parsed.password) violations.push({ field: "delivery.endpoint_url", description: "must hold no credentials: send them as delivery.authorization_header" });
  if (authorization !== undefined && (typeof authorization !== "string" || !HEADER_VALUE.test(authorization)))
    violations.push({ field: "delivery.authorization_header", description: "must be an HTTP header value (visible ASCII, spaces and tabs)" });
  if (violations.length > before) return undefined;
  return { method: PUSH_DELIVERY, endpoint_url: url as string, ...(typeof authorization === "string" && { authorization_header: authorization }) };
}

/** Transmitter-Supplied properties a PATCH or PUT may repeat, but only with the values they have (SSF 1.0 §8.1.1.3, §8.1.1.4). */
export function checkTransmitterSupplied(body: Record<string, unknown>, current: StreamView, violations: FieldViolation[]): void {
  const expected: Record<string, unknown> = {
    iss: current.iss,
    aud: current.aud,
    events_supported: current.events_supported,
    events_delivered: current.events_delivered,
    min_verification_interval: current.min_verification_interval,
    inactivity_timeout: undefined,
  };
  for (const [name, value] of Object.entries(expected)) {
    if (body[name] !== undefined && !sameValue(body[name], value)) violations.push({ field: name, description: "is set by the transmitter: leave it out or send the stream's value" });
  }
}

/** The configuration kept for these Receiver-Supplied values: events_delivered is what was requested of what is supported. */
export function storedConfig(given: ReceiverSupplied & { delivery: StreamDelivery }, aud: string): { config: StoredStreamConfig; wantsSessionRevoked: boolean } {
  const delivered = EVENTS_SUPPORTED.filter((e) => given.events_requested?.includes(e));
  const config: StoredStreamConfig = {
    delivery: given.delivery,
    aud,
    ...(given.events_requested && { events_requested: given.events_requested }),
    events_delivered: delivered,
    ...(given.description !== undefined && { description: given.description }),
  };
  return { config, wantsSessionRevoked: delivered.includes(SESSION_REVOKED) };
}

/** A kept configuration's Receiver-Supplied part. */
export function receiverPart(c: StoredStreamConfig): ReceiverSupplied & { delivery: StreamDelivery } {
  return { delivery: c.delivery, ...(c.events_requested && { events_requested: c.events_requested }), ...(c.description !== undefined && { description: c.description }) };
}

/** A JSON object request body (an empty body is an empty object). */
export function requestObject(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (!isObject(body)) throw invalidArgument([{ field: "body", description: "must be a JSON object" }]);
  return body;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Equal values; a string equals the array holding just it, and arrays are compared as sets (audiences, event types). */
function sameValue(given: unknown, expected: unknown): boolean {
  const set = (v: unknown) => JSON.stringify((Array.isArray(v) ? [...v] : [v]).sort());
  return expected !== undefined && set(given) === set(expected);
}
