/** Longest id put into an upstream's URL path. */
const MAX_ID_LENGTH = 255;

/**
 * Why `id` may not go into a URL path segment, or undefined when it may (percent-encoded all the
 * same): an id that is empty, too long, "." or "..", or holds "/", "\" or a control character
 * could change the path the upstream sees, or what a proxy in front of it does.
 */
export function pathIdProblem(id: string, max = MAX_ID_LENGTH): string | undefined {
  if (id === "") return "must not be empty";
  if (id.length > max) return `must be at most ${max} characters`;
  if (id === "." || id === "..") return 'must not be "." or ".."';
  if (/[/\\]/.test(id)) return 'must not contain "/" or "\\"';
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(id)) return "must not contain control characters";
  return undefined;
}

/** A UUID in its canonical text form (Ory Kratos' ids). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
