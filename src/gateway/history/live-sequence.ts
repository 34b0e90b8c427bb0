import type { Msg } from "@nats-io/nats-core";

/** Where a stored message sits in the stream, from the headers the stream's RePublish adds. */
export interface LiveSequence {
  /** `Nats-Sequence`: the message's stream sequence. */
  readonly seq: number;
  /** `Nats-Last-Sequence`: the sequence of the previous message on the same subject, 0 if none. */
  readonly prev: number;
}

const SEQUENCE = Buffer.from("\r\nNats-Sequence:");
const LAST_SEQUENCE = Buffer.from("\r\nNats-Last-Sequence:");
const CR = 13;
const SPACE = 32;
const ZERO = 48;
const NINE = 57;

/** What nats.js keeps of a received message: the header block is `_rdata[0, _msg.hdr)`. */
interface ReceivedMsg {
  readonly _rdata?: unknown;
  readonly _msg?: { readonly hdr?: unknown };
}

/**
 * The stream position of a live (republished) message, or undefined when it carries none. The
 * stream writes these headers itself, one per line as `Name: digits`, so they are found in the raw
 * header block with two byte searches instead of decoding every header into a map (the general
 * parser, still used when the raw block is not at hand).
 */
export function liveSequence(msg: Msg): LiveSequence | undefined {
  const block = rawHeaderBlock(msg);
  return block === undefined ? fromParsedHeaders(msg) : sequenceInHeaderBlock(block);
}

/** The stream position in a raw NATS header block (`NATS/1.0\r\nName: value\r\n…`). */
export function sequenceInHeaderBlock(block: Buffer): LiveSequence | undefined {
  const seq = numberAfter(block, SEQUENCE);
  const prev = block.indexOf(LAST_SEQUENCE) < 0 ? 0 : numberAfter(block, LAST_SEQUENCE);
  if (seq === undefined || seq <= 0 || prev === undefined) return undefined;
  return { seq, prev };
}

/** The message's raw header block, empty when it has none; undefined when nats.js hides it. */
export function rawHeaderBlock(msg: Msg): Buffer | undefined {
  const { _rdata: data, _msg: parsed } = msg as unknown as ReceivedMsg;
  const length = parsed?.hdr;
  if (!(data instanceof Uint8Array) || typeof length !== "number" || length > data.byteLength)
    return undefined;
  if (length <= 0) return Buffer.alloc(0);
  return Buffer.from(data.buffer, data.byteOffset, length);
}

/** The decimal number after the first `name` in `block`, or undefined. */
function numberAfter(block: Buffer, name: Buffer): number | undefined {
  const at = block.indexOf(name);
  if (at < 0) return undefined;
  let i = at + name.length;
  while (block[i] === SPACE) i++;
  let value = 0;
  const start = i;
  for (let byte = block[i]; byte !== undefined && byte >= ZERO && byte <= NINE; byte = block[++i]) {
    value = value * 10 + (byte - ZERO);
  }
  if (i === start || block[i] !== CR || !Number.isSafeInteger(value)) return undefined;
  return value;
}

function fromParsedHeaders(msg: Msg): LiveSequence | undefined {
  const headers = msg.headers;
  const seq = Number(headers?.get("Nats-Sequence"));
  const prev = Number(headers?.get("Nats-Last-Sequence") || 0);
  if (!Number.isSafeInteger(seq) || seq <= 0 || !Number.isSafeInteger(prev) || prev < 0) return undefined;
  return { seq, prev };
}
