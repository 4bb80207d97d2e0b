import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";

/**
 * The API key lives in this module's memory only: never in localStorage, sessionStorage or a
 * cookie. Reloading the page signs out.
 */
let apiKey: string | undefined;

export function signIn(key: string): void {
  apiKey = key;
}

export function signOut(): void {
  apiKey = undefined;
}

export function signedIn(): boolean {
  return apiKey !== undefined;
}

const bearer: Interceptor = (next) => (req) => {
  if (apiKey !== undefined) req.header.set("authorization", `Bearer ${apiKey}`);
  return next(req);
};

/** gRPC-web to the service that served this page: same origin, so no CORS. */
export const api: Client<typeof SessionControl> = createClient(
  SessionControl,
  createGrpcWebTransport({ baseUrl: location.origin, interceptors: [bearer] }),
);

/** A call's failure as the console shows it: the gRPC code, ErrorInfo's reason and the upstream's own words. */
export interface ShownError {
  code: string;
  message: string;
  reason?: string;
  domain?: string;
  upstreamStatus?: string;
  upstreamCode?: string;
  upstreamMessage?: string;
}

/** Code.PermissionDenied -> PERMISSION_DENIED, as gRPC names it. */
export function codeName(code: Code): string {
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

export function shownError(err: unknown): ShownError {
  const e = ConnectError.from(err);
  const info = e.findDetails(ErrorInfoSchema)[0];
  return shownFailure({ code: codeName(e.code), message: e.rawMessage, reason: info?.reason ?? "", domain: info?.domain ?? "", metadata: info?.metadata ?? {} });
}

/** A failure already in words (a provider's part of ListUserSessions): its code name, ErrorInfo's reason, domain and metadata. */
export function shownFailure(f: { code: string; message: string; reason: string; domain: string; metadata: Record<string, string> }): ShownError {
  const meta = f.metadata;
  return {
    code: f.code,
    message: f.message,
    ...(f.reason && { reason: f.reason }),
    ...(f.domain && { domain: f.domain }),
    ...(meta["upstream_status"] && { upstreamStatus: meta["upstream_status"] }),
    ...(meta["upstream_code"] && { upstreamCode: meta["upstream_code"] }),
    ...(meta["upstream_message"] && { upstreamMessage: meta["upstream_message"] }),
  };
}

/** A timestamp as local date and time, or a dash. */
export function when(ts: Timestamp | undefined): string {
  if (!ts) return "—";
  return timestampDate(ts).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** An idempotency key for a request the operator makes once. */
export function requestId(): string {
  return crypto.randomUUID();
}
