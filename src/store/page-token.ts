import { invalidArgument } from "../status/failure.js";

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

/** The page size a list call uses: 0 means the default, and larger asks are capped (AIP-158). */
export function pageSize(asked: number): number {
  return Math.min(asked || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
}

/** Opaque page tokens (keyset paging of the store's lists): the last id of a page, bound to the filter it was issued for. */
export function encodePageToken(filter: string, lastId: string): string {
  return Buffer.from(JSON.stringify({ u: filter, b: lastId })).toString("base64url");
}

/** The id to continue below, or undefined when the token is not one of ours for this filter. */
export function decodePageToken(token: string, filter: string, idPattern = /^[0-9a-f]{32}$/): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { u?: unknown; b?: unknown };
    return parsed.u === filter && typeof parsed.b === "string" && idPattern.test(parsed.b) ? parsed.b : undefined;
  } catch {
    return undefined;
  }
}

/** One page of a list, and the token of the next one ("" on the last). */
export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** The cursor of a page token issued for this filter; INVALID_ARGUMENT for any other token. */
export function pageCursor(token: string, filter: string, idPattern?: RegExp): string | undefined {
  if (!token) return undefined;
  const cursor = decodePageToken(token, filter, idPattern);
  if (cursor === undefined) throw invalidArgument([{ field: "page_token", description: "is not a token this list issued for these filters" }]);
  return cursor;
}
