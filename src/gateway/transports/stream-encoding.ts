import type { OutboundFrame } from "../delivery/outbound-frame.js";

/**
 * How an HTTP response carries the protocol's frames: newline-delimited JSON (HTTP-streaming) or
 * server-sent events. Besides the frames, a stream says two things a WebSocket says in its own
 * framing: the session's id for upstream POSTs, first, and the close code, last.
 */
export interface StreamEncoding {
  /** The transport's name, as the client SDK and the metrics call it. */
  readonly transport: "http-stream" | "sse";
  readonly contentType: string;
  /** The first bytes: the session's id, then padding that makes buffering proxies pass the stream on. */
  opening(sessionId: string): Buffer;
  /** One frame, built once per frame however many streams it goes to. */
  frame(frame: OutboundFrame): Buffer;
  /** The last bytes: what a WebSocket close frame says. */
  closing(code: number, reason: string): Buffer;
}

/**
 * Bytes of padding after the session's id. Proxies and antivirus software that buffer a response
 * until some amount has arrived pass it on from here; 2 KiB is past the thresholds seen in the field.
 */
export const PADDING_BYTES = 2048;

const NEWLINE = 0x0a;
const RETURN = 0x0d;
const SPACE = 0x20;

/**
 * The JSON text of a frame on one line. A published payload is spliced into `message` frames as
 * it came, and may hold line breaks: in valid JSON they can only be whitespace between tokens (one
 * inside a string is escaped), so a space stands in for each without changing what the JSON says.
 */
function writeOneLine(payload: Buffer, out: Buffer, at: number): void {
  payload.copy(out, at);
  if (payload.indexOf(NEWLINE) < 0 && payload.indexOf(RETURN) < 0) return;
  for (let i = at; i < at + payload.length; i++) if (out[i] === NEWLINE || out[i] === RETURN) out[i] = SPACE;
}

/**
 * Encoded frames, one per frame and encoding: a fan-out to N streams encodes once. Kept only as
 * long as the frame itself.
 */
function cached(encode: (frame: OutboundFrame) => Buffer): (frame: OutboundFrame) => Buffer {
  const encoded = new WeakMap<OutboundFrame, Buffer>();
  return (frame) => {
    let bytes = encoded.get(frame);
    if (bytes === undefined) {
      bytes = encode(frame);
      encoded.set(frame, bytes);
    }
    return bytes;
  };
}

/** `{"type":"session","id":…}`, padding, then one JSON frame per line; `{"type":"close",…}` last. */
export const NDJSON: StreamEncoding = {
  transport: "http-stream",
  contentType: "application/x-ndjson; charset=utf-8",
  opening: (sessionId) =>
    Buffer.from(`${JSON.stringify({ type: "session", id: sessionId })}\n${" ".repeat(PADDING_BYTES)}\n`),
  frame: cached((frame) => {
    const out = Buffer.allocUnsafe(frame.payload.length + 1);
    writeOneLine(frame.payload, out, 0);
    out[frame.payload.length] = NEWLINE;
    return out;
  }),
  closing: (code, reason) => Buffer.from(`${JSON.stringify({ type: "close", code, reason })}\n`),
};

const DATA = Buffer.from("data: ");
const EVENT_END = Buffer.from("\n\n");

/**
 * `event: session` with the id, a padding comment, then one `data:` event per frame (the default
 * event type, `onmessage`); `event: close` last. Named events reach only listeners for their name.
 */
export const SSE: StreamEncoding = {
  transport: "sse",
  contentType: "text/event-stream; charset=utf-8",
  opening: (sessionId) =>
    Buffer.from(`event: session\ndata: ${sessionId}\n\n:${" ".repeat(PADDING_BYTES)}\n\n`),
  frame: cached((frame) => {
    const out = Buffer.allocUnsafe(DATA.length + frame.payload.length + EVENT_END.length);
    DATA.copy(out, 0);
    writeOneLine(frame.payload, out, DATA.length);
    EVENT_END.copy(out, DATA.length + frame.payload.length);
    return out;
  }),
  closing: (code, reason) => Buffer.from(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`),
};
