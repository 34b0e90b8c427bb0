import type { Msg } from "@nats-io/nats-core";

/** Where a stored message sits in the stream, from the headers the stream's RePublish adds. */
export interface LiveSequence {
  /** `Nats-Sequence`: the message's stream sequence. */
  readonly seq: number;
  /** `Nats-Last-Sequence`: the sequence of the previous message on the same subject, 0 if none. */
  readonly prev: number;
}

/** The header lines the stream writes, each `Name: digits` on a line of its own. */
const SEQUENCE = Buffer.from("Nats-Sequence:");
const LAST_SEQUENCE = Buffer.from("Nats-Last-Sequence:");
const CR = 13;
const LF = 10;
const N = 78;
const SPACE = 32;
const ZERO = 48;
const NINE = 57;
/** What `numberAt` gives for a line of the name whose value is no decimal number. */
const MALFORMED = -1;

/** What nats.js keeps of a received message: the header block is `_rdata[0, _msg.hdr)`. */
interface ReceivedMsg {
  readonly _rdata?: unknown;
  readonly _msg?: { readonly hdr?: unknown };
}

/**
 * The stream position of a live (republished) message, or undefined when it carries none. The
 * stream writes these headers itself, one per line as `Name: digits`, so they are read from the
 * raw header block in the bytes the message arrived in, in one pass and without a copy, instead of
 * decoding every header into a map (the general parser, still used when nats.js hides the bytes).
 */
export function liveSequence(msg: Msg): LiveSequence | undefined {
  const received = msg as unknown as ReceivedMsg;
  const bytes = received._rdata;
  const length = received._msg?.hdr;
  if (!(bytes instanceof Uint8Array) || typeof length !== "number" || length > bytes.byteLength)
    return fromParsedHeaders(msg);
  return sequenceInHeaderBlock(bytes, length);
}

/**
 * The stream position in a raw NATS header block (`NATS/1.0\r\nName: value\r\n…`), the block
 * being `bytes[0, length)`; the first line of each name counts, as with the general parser.
 */
export function sequenceInHeaderBlock(
  bytes: Uint8Array,
  length = bytes.byteLength,
): LiveSequence | undefined {
  let seq: number | undefined;
  let prev: number | undefined;
  // Each header line starts after a CRLF; only lines starting with `N` can be either name.
  for (let i = 1; i + 1 < length; i++) {
    if (bytes[i] !== LF || bytes[i - 1] !== CR || bytes[i + 1] !== N) continue;
    if (seq === undefined && startsWith(bytes, i + 1, length, SEQUENCE)) {
      seq = numberAt(bytes, i + 1 + SEQUENCE.length, length);
    } else if (prev === undefined && startsWith(bytes, i + 1, length, LAST_SEQUENCE)) {
      prev = numberAt(bytes, i + 1 + LAST_SEQUENCE.length, length);
    } else {
      continue;
    }
    if (seq !== undefined && prev !== undefined) break;
  }
  if (seq === undefined || seq <= 0 || prev === MALFORMED) return undefined;
  return { seq, prev: prev ?? 0 };
}

function startsWith(bytes: Uint8Array, at: number, end: number, name: Uint8Array): boolean {
  if (at + name.length > end) return false;
  for (let k = 0; k < name.length; k++) if (bytes[at + k] !== name[k]) return false;
  return true;
}

/** The decimal number at `at` (after spaces) that ends its line, or MALFORMED. */
function numberAt(bytes: Uint8Array, at: number, end: number): number {
  let i = at;
  while (i < end && bytes[i] === SPACE) i++;
  const start = i;
  let value = 0;
  for (; i < end; i++) {
    const byte = bytes[i]!;
    if (byte < ZERO || byte > NINE) break;
    value = value * 10 + (byte - ZERO);
  }
  if (i === start || bytes[i] !== CR || !Number.isSafeInteger(value)) return MALFORMED;
  return value;
}

function fromParsedHeaders(msg: Msg): LiveSequence | undefined {
  const headers = msg.headers;
  const seq = Number(headers?.get("Nats-Sequence"));
  const prev = Number(headers?.get("Nats-Last-Sequence") || 0);
  if (!Number.isSafeInteger(seq) || seq <= 0 || !Number.isSafeInteger(prev) || prev < 0) return undefined;
  return { seq, prev };
}
