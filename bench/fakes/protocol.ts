import { createHash } from "node:crypto";

/** The upstream provider types the benchmark has fakes of. */
export const UPSTREAM_TYPES = ["zitadel", "rocketchat", "senhasegura", "luckymonaco", "keycloak", "kratos", "entra", "google", "okta", "auth0"] as const;
export type UpstreamType = (typeof UPSTREAM_TYPES)[number];

/**
 * The service's credentials at each fake upstream: the fakes refuse anything else (a wrong
 * request then shows up as a failed call). Written to files that the service's configuration
 * names (`file:PATH`), as a deployment would.
 */
export const FAKE_CREDENTIALS = {
  zitadelToken: "bench-zitadel-pat-0123456789",
  rocketchatUserId: "bench-rc-admin",
  rocketchatAuthToken: "bench-rc-token-0123456789",
  senhaseguraClientId: "bench-a2a-client",
  senhaseguraClientSecret: "bench-ss-secret-0123456789",
  luckymonacoSecureLogin: "bench-partner",
  luckymonacoToken: "bench-lm-token-0123456789",
  keycloakRealm: "bench",
  keycloakClientId: "bench-session-control",
  keycloakClientSecret: "bench-kc-secret-0123456789",
  entraTenantId: "bench-tenant.onmicrosoft.com",
  entraClientId: "bench-entra-app",
  entraClientSecret: "bench-entra-secret-0123456789",
  /** The admin the Google service account acts as; its key is made by the fakes at start (FromFakes ready). */
  googleSubject: "admin@bench.example",
  oktaApiToken: "bench-okta-ssws-0123456789",
  auth0ClientId: "bench-auth0-m2m",
  auth0ClientSecret: "bench-auth0-secret-0123456789",
} as const;

/** The resource owner the Zitadel fake puts in DeleteSession's details. */
export const ZITADEL_FAKE_OWNER = "bench-zitadel-org";

/** The session a fake lists for a user (one each), for TerminateUser. */
export function listedSessionOf(type: UpstreamType, userId: string): string {
  if (type === "kratos") return benchUuid(`session of ${userId}`);
  const prefix = { zitadel: "z-of-", rocketchat: "rc-of-", senhasegura: "ss-of-", luckymonaco: "", keycloak: "kc-of-", entra: "", google: "", okta: "", auth0: "a0-of-" }[type];
  return prefix + userId;
}

/** A UUID made from `text` (Kratos takes only UUIDs): the same text, the same UUID. */
export function benchUuid(text: string): string {
  const h = createHash("sha256").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The user's id in each upstream where it is not the bench's own user id (TerminateUser's provider_user_ids). */
export function providerUserIdsOf(userId: string): Record<string, string> {
  return { kratos: benchUuid(userId) };
}

/** What one fake saw. Counters run from the fake's start; `times` since the last `take`. */
export interface FakeStats {
  /** Connections (TCP for HTTP/1.1, HTTP/2 sessions for Zitadel) accepted since start. */
  connections: number;
  /** Requests per route since start, e.g. "DeleteSession", "POST /V4/CloseSession". */
  requests: Record<string, number>;
  /** Requests that end a session (or, for LuckyMonaco, a player's sessions) since start. */
  ends: number;
  /** End requests for something already ended (none, when the service ends each thing once). */
  duplicates: number;
  /** Requests refused because they were not what the upstream accepts (wrong credentials, wrong shape). */
  refused: number;
  refusals: string[];
  /**
   * The fake's own time for each end request since the last take: from the request's arrival
   * (its head parsed) to the last byte of the answer handed to the socket, injected latency
   * included. `keys[i]` is what was ended (session id, or the player for LuckyMonaco).
   */
  times: { keys: string[]; ns: number[] };
}

export type ToFakes =
  | { cmd: "latency"; ms: number }
  /** Users whose one session senhasegura lists (its list names every remote session, not one user's). */
  | { cmd: "seed"; users: string[] }
  | { cmd: "take" }
  | { cmd: "exit" };

export type FromFakes =
  /** `googleKey`: the JSON key of the service account the Google fake trusts (made at its start). */
  | { type: "ready"; ports: Record<UpstreamType, number>; googleKey: string }
  | { type: "ok" }
  | { type: "taken"; stats: Record<UpstreamType, FakeStats> }
  | { type: "error"; message: string };
