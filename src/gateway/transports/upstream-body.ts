import { STREAM_ID } from "./stream-table.js";

/** An upstream POST's body: the stream's id on the first line, then one client frame per line. */
export interface UpstreamBody {
  readonly streamId: string;
  /** Views into the body; blank lines left out. */
  readonly frames: readonly Buffer[];
}

const NEWLINE = 0x0a;

/**
 * Reads `<stream id>\n<frame>\n<frame>…` (a trailing newline allowed). The id travels in the body,
 * never in the URL, so it stays out of access logs; the body is `text/plain`, so a cross-origin
 * page's POST needs no CORS preflight. Undefined when the first line is not a stream id.
 */
export function parseUpstreamBody(body: Buffer): UpstreamBody | undefined {
  const firstEnd = body.indexOf(NEWLINE);
  const streamId = body.toString("latin1", 0, firstEnd < 0 ? body.length : firstEnd).trim();
  if (!STREAM_ID.test(streamId)) return undefined;
  const frames: Buffer[] = [];
  let start = firstEnd < 0 ? body.length : firstEnd + 1;
  while (start < body.length) {
    let end = body.indexOf(NEWLINE, start);
    if (end < 0) end = body.length;
    const line = body.subarray(start, end);
    if (!isBlank(line)) frames.push(line);
    start = end + 1;
  }
  return { streamId, frames };
}

function isBlank(line: Buffer): boolean {
  for (const byte of line) if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return false;
  return true;
}
