import { OutboundFrame } from "./outbound-frame.js";

/**
 * Builds the `message` frame for one NATS message, once, for every socket of the channel. Payload
 * bytes that are valid UTF-8 JSON are spliced in untouched; anything else becomes a JSON string.
 * Invalid UTF-8 is never passed through (browsers close on it).
 */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
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
  const position = Buffer.from(prev === undefined ? `"seq":${seq},` : `"seq":${seq},"prev":${prev},`);
  return OutboundFrame.concat([prefix, position, DATA_KEY, data, CLOSE]);
}

function isJson(payload: Uint8Array): boolean {
  if (payload.byteLength === 0) return false;
  try {
    JSON.parse(strictUtf8.decode(payload));
    return true;
  } catch {
    return false;
  }
}
