/** Longest id put into an upstream path: longer ones are refused before anything is sent. */
export const MAX_PATH_ID = 256;

/**
 * Why `id` may not stand as one segment of an upstream path, or undefined when it may. Ids are
 * percent-encoded all the same; these are refused outright, since a proxy or the upstream may
 * decode them again: empty, too long, "." or "..", a "/" or "\", a control character.
 */
export function pathIdProblem(id: string, maxLength = MAX_PATH_ID): string | undefined {
  if (id === "") return "must not be empty";
  if (id.length > maxLength) return `must be at most ${maxLength} characters`;
  if (id === "." || id === "..") return 'must not be "." or ".."';
  if (/[/\\]/.test(id)) return "must not contain '/' or '\\'";
  // C0 and C1 controls, DEL, and the line and paragraph separators.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(id)) return "must not contain control characters";
  return undefined;
}
