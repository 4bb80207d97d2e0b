import type { LinkedIdentity, UserLinksRecord } from "./link-types.js";
import { parsed, toDate, type Time } from "./rows.js";

/** A user_links row as either database gives it back (src/store/rows.ts), with its emails and identities in order. */
export interface LinksRow {
  user_id: string;
  provider_user_ids: string | Record<string, string>;
  created_at: Time;
  updated_at: Time;
  emails: string[];
  identities: string | LinkedIdentity[];
}

export function linksFromRow(r: LinksRow): UserLinksRecord {
  return {
    userId: r.user_id,
    emails: r.emails,
    identities: parsed<LinkedIdentity[]>(r.identities).map(({ iss, sub }) => ({ iss, sub })),
    providerUserIds: parsed<Record<string, string>>(r.provider_user_ids),
    createdAt: toDate(r.created_at),
    updatedAt: toDate(r.updated_at),
  };
}
