import { constants, deflateRawSync } from "node:zlib";

/**
 * The deflate window of compressed frames, negotiated as `server_max_window_bits` with every client
 * that takes permessage-deflate (RFC 7692), so one compressed frame suits them all.
 */
export const DEFLATE_WINDOW_BITS = 15;
/** Shorter texts go out plain also to compressing sockets: deflate would save a few bytes at best. */
const DEFLATE_MIN_BYTES = 1024;

/**
 * A frame for clients, built once however many sockets it goes to: the whole WebSocket frame — an
 * unmasked, final text frame (RFC 6455 §5.2) — in one buffer, so a fan-out to N sockets is N plain
 * socket writes with no per-socket framing or allocation. `payload` is a view of the JSON text in it.
 */
export class OutboundFrame {
  /** `deflatedWire` once asked for. */
  private deflated: Buffer | undefined;

  private constructor(
    readonly wire: Buffer,
    readonly payload: Buffer,
  ) {}

  /**
   * The frame for sockets that negotiated permessage-deflate without server context takeover: the
   * text deflated once, whatever number of sockets take it, so no socket keeps a deflate stream of
   * its own. The plain frame when the text is short, or deflate does not make it shorter.
   */
  get deflatedWire(): Buffer {
    this.deflated ??=
      this.payload.length < DEFLATE_MIN_BYTES ? this.wire : deflatedFrame(this.wire, this.payload);
    return this.deflated;
  }

  static of(value: unknown): OutboundFrame {
    return OutboundFrame.concat([Buffer.from(JSON.stringify(value))]);
  }

  /** One frame whose JSON text is `parts` joined, with a single allocation and copy. */
  static concat(parts: readonly Uint8Array[]): OutboundFrame {
    let length = 0;
    for (const part of parts) length += part.byteLength;
    const frame = OutboundFrame.allocate(length);
    let offset = 0;
    for (const part of parts) {
      frame.payload.set(part, offset);
      offset += part.byteLength;
    }
    return frame;
  }

  /** A frame for a JSON text of `length` bytes, framed; the caller writes the text into `payload`. */
  static allocate(length: number): OutboundFrame {
    const { wire, body } = framed(length, FIN_TEXT);
    return new OutboundFrame(wire, body);
  }
}

const FIN_TEXT = 0x80 | 0x01;
/** RSV1 marks a compressed message (RFC 7692 §6). */
const FIN_RSV1_TEXT = FIN_TEXT | 0x40;

/** A buffer for an unmasked frame of `length` bytes after its header, the header written. */
function framed(length: number, firstByte: number): { wire: Buffer; body: Buffer } {
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const wire = Buffer.allocUnsafe(headerLength + length);
  wire[0] = firstByte;
  if (length < 126) {
    wire[1] = length;
  } else if (length < 65_536) {
    wire[1] = 126;
    wire.writeUInt16BE(length, 2);
  } else {
    wire[1] = 127;
    wire.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    wire.writeUInt32BE(length >>> 0, 6);
  }
  return { wire, body: wire.subarray(headerLength) };
}

/**
 * A compressed message as RFC 7692 §7.2.1 has it: the text deflated on its own (no context taken
 * over from earlier messages), flushed with Z_SYNC_FLUSH, less the empty block's 4 closing bytes.
 */
function deflatedFrame(plain: Buffer, payload: Buffer): Buffer {
  const flushed = deflateRawSync(payload, {
    windowBits: DEFLATE_WINDOW_BITS,
    finishFlush: constants.Z_SYNC_FLUSH,
  });
  const length = flushed.length - 4;
  if (length >= payload.length) return plain;
  const { wire, body } = framed(length, FIN_RSV1_TEXT);
  flushed.copy(body, 0, 0, length);
  return wire;
}
