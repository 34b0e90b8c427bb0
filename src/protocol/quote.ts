/** How much of a value from outside (a client frame, a backend reply) an error or log line may quote. */
export const QUOTE_LIMIT = 64;

/**
 * A short, JSON-quoted excerpt of untrusted text: at most `limit` characters (whole code points, so a
 * surrogate pair is never split), then `…`. Error frames and logs quote outside input only through this.
 */
export function quote(value: unknown, limit = QUOTE_LIMIT): string {
  const text = typeof value === "string" ? value : String(value);
  const points = Array.from(text.length > limit * 2 ? text.slice(0, limit * 2) : text);
  return points.length > limit ? `${JSON.stringify(points.slice(0, limit).join(""))}…` : JSON.stringify(text);
}

/**
 * Untrusted text cut to `limit` characters (whole code points), then `…`, without quotes: for a
 * backend's own message passed on to a client, which reads as a message rather than a quotation.
 */
export function clip(text: string, limit = QUOTE_LIMIT): string {
  const points = Array.from(text.length > limit * 2 ? text.slice(0, limit * 2) : text);
  return points.length > limit ? `${points.slice(0, limit).join("")}…` : text;
}
