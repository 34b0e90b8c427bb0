import { OutboundFrame } from "./outbound-frame.js";

/**
 * Builds the `message` frame for one NATS message, once, for every socket of the channel. Payload
 * bytes that are valid UTF-8 JSON are spliced in untouched; anything else becomes a JSON string.
 * Invalid UTF-8 is never passed through (browsers close on it).
 */
// ignoreBOM keeps a leading BOM in the text, where JSON.parse refuses it: spliced into a frame it
// would make the frame invalid JSON.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientUtf8 = new TextDecoder("utf-8");
const DATA_KEY = Buffer.from('"data":');
const CLOSE = Buffer.from("}");

export function channelFramePrefix(channel: string): Buffer {
  return Buffer.from(`{"type":"message","channel":${JSON.stringify(channel)},`);
}

export function buildMessageFrame(
  prefix: Buffer,
  payload: Uint8Array,
  seq: number | undefined,
  prev: number | undefined,
): OutboundFrame {
  const data = isJson(payload) ? payload : Buffer.from(JSON.stringify(lenientUtf8.decode(payload)));
  if (seq === undefined) return OutboundFrame.concat([prefix, DATA_KEY, data, CLOSE]);
  // The position's digits go straight into the frame: no string, no buffer of their own.
  const seqDigits = digitCount(seq);
  const prevDigits = prev === undefined ? 0 : digitCount(prev);
  const positionLength =
    SEQ_KEY.byteLength + seqDigits + 1 + (prev === undefined ? 0 : PREV_KEY.byteLength + prevDigits + 1);
  const frame = OutboundFrame.allocate(
    prefix.byteLength + positionLength + DATA_KEY.byteLength + data.byteLength + CLOSE.byteLength,
  );
  const out = frame.payload;
  out.set(prefix, 0);
  let at = prefix.byteLength;
  out.set(SEQ_KEY, at);
  at = writeDigits(out, at + SEQ_KEY.byteLength, seq, seqDigits);
  out[at++] = COMMA;
  if (prev !== undefined) {
    out.set(PREV_KEY, at);
    at = writeDigits(out, at + PREV_KEY.byteLength, prev, prevDigits);
    out[at++] = COMMA;
  }
  out.set(DATA_KEY, at);
  at += DATA_KEY.byteLength;
  out.set(data, at);
  out.set(CLOSE, at + data.byteLength);
  return frame;
}

const SEQ_KEY = Buffer.from('"seq":');
const PREV_KEY = Buffer.from('"prev":');
const COMMA = 0x2c;
const ZERO = 0x30;

/** Decimal digits of a non-negative safe integer. */
function digitCount(n: number): number {
  let digits = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/** Writes `n`'s `digits` decimal digits at `at`; returns the offset after them. */
function writeDigits(out: Buffer, at: number, n: number, digits: number): number {
  let rest = n;
  for (let i = at + digits - 1; i >= at; i--) {
    out[i] = ZERO + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return at + digits;
}

/** First and last bytes a JSON text can have (after whitespace): `{["-0-9tfn` and `}]"0-9el`. */
const CAN_START = new Uint8Array(256);
for (const c of '{["-0123456789tfn') CAN_START[c.charCodeAt(0)] = 1;
const CAN_END = new Uint8Array(256);
for (const c of '}]"0123456789el') CAN_END[c.charCodeAt(0)] = 1;
const WHITESPACE = new Uint8Array(256);
for (const c of " \t\r\n") WHITESPACE[c.charCodeAt(0)] = 1;

/**
 * Whether the payload is one JSON text in valid UTF-8. Parsing the decoded text is the cheapest
 * exact check V8 offers for JSON (see bench/micro/hot-path.ts); a payload whose first or last byte
 * cannot begin or end a JSON text is refused before that, without the cost of a thrown exception.
 */
export function isJson(payload: Uint8Array): boolean {
  let first = 0;
  while (WHITESPACE[payload[first]!] === 1) first++;
  let last = payload.byteLength - 1;
  while (last > first && WHITESPACE[payload[last]!] === 1) last--;
  if (first > last || CAN_START[payload[first]!] !== 1 || CAN_END[payload[last]!] !== 1) return false;
  try {
    JSON.parse(strictUtf8.decode(payload));
    return true;
  } catch {
    return false;
  }
}
