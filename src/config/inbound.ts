import { z } from "zod";
import { distinctIssuers, oneKeySource, tokenIssuerFields } from "./token-issuer.js";

/** Besides the party's own issuer, the issuers whose `iss_sub` subjects it may name. */
const subjectIssuers = z.array(z.string().min(1).max(1000)).max(50).default([]);

/** A Global Token Revocation caller: an identity provider signing its requests with its own keys. */
const gtrCaller = z
  .strictObject({
    ...tokenIssuerFields,
    /** When set, the token's `scope` claim must hold this value; without it the request is 403. */
    subject_issuers: subjectIssuers,
    required_scope: z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, "must be one scope token (no spaces or quotes)").optional(),
  })
  .superRefine(oneKeySource);

/** Global Token Revocation (draft-parecki-oauth-global-token-revocation-06): who may call POST /global-token-revocation. */
export const gtrConfig = z.strictObject({
  callers: z.array(gtrCaller).default([]).refine(distinctIssuers, "two callers have the same issuer"),
});

const eventAction = z.enum(["terminate_user", "ignore"]);

/** What each received event starts. */
const eventActions = z.strictObject({
  session_revoked: eventAction.default("terminate_user"),
  credential_change: eventAction.default("ignore"),
  account_disabled: eventAction.default("terminate_user"),
  account_purged: eventAction.default("terminate_user"),
  sessions_revoked: eventAction.default("terminate_user"),
});

/** A Shared Signals transmitter whose SETs are received at POST /ssf/events. */
const transmitter = z
  .strictObject({
    ...tokenIssuerFields,
    /** The SETs' `aud`; default public_url. */
    audience: z.string().min(1).max(1000).optional(),
    subject_issuers: subjectIssuers,
    events: eventActions.prefault({}),
  })
  .superRefine(oneKeySource);

/** The Shared Signals receiver (SSF 1.0 push, RFC 8935). */
export const ssfConfig = z.strictObject({
  transmitters: z.array(transmitter).default([]).refine(distinctIssuers, "two transmitters have the same issuer"),
  /** SETs issued longer ago than this are refused; a SET's jti is remembered as long. */
  max_event_age_ms: z.number().int().min(60_000).max(30 * 24 * 3_600_000).default(7 * 24 * 3_600_000),
});

export type EventActions = z.infer<typeof eventActions>;
export type TransmitterConfig = z.infer<typeof transmitter>;
export type GtrCallerConfig = z.infer<typeof gtrCaller>;
