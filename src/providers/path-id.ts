/** Longest id put into an upstream's URL path. */
export const MAX_PATH_ID = 256;

/**
 * Why `id` may not stand as one segment of an upstream's URL path, or undefined when it may (it is
 * percent-encoded all the same): empty, too long, `.` or `..`, a `/`, `\` or `%` (an id already
 * percent-encoded would turn into a `/` if a proxy and the upstream each decoded it once), or a
 * control character: anything that could change the path however the upstream or a proxy decodes it.
 */
export function pathIdProblem(id: string, maxLength = MAX_PATH_ID): string | undefined {
  if (id === "") return "must not be empty";
  if ([...id].length > maxLength) return `must be at most ${maxLength} characters`;
  if (id === "." || id === "..") return 'must not be "." or ".."';
  if (/[/\\]/.test(id)) return "must not contain '/' or '\\'";
  if (id.includes("%")) return "must not contain '%'";
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(id)) return "must not contain control characters";
  return undefined;
}

/** A UUID in its canonical text form (Ory Kratos' ids). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
