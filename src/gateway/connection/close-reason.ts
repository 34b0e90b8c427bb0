/** A WebSocket close frame carries at most 123 bytes of reason, and `ws` throws rather than cut one. */
const MAX_REASON_BYTES = 123;

/**
 * A close reason that always fits: the gateway passes fixed texts (error code names), and this cuts
 * anything longer by UTF-8 bytes without splitting a character, so a close can never throw.
 */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= MAX_REASON_BYTES) return text;
  let out = "";
  let bytes = 0;
  for (const point of text) {
    const size = Buffer.byteLength(point);
    if (bytes + size > MAX_REASON_BYTES) break;
    out += point;
    bytes += size;
  }
  return out;
}
