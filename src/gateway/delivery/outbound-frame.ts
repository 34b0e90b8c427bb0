/**
 * A frame for clients, built once however many sockets it goes to: the whole WebSocket frame — an
 * unmasked, final text frame (RFC 6455 §5.2) — in one buffer, so a fan-out to N sockets is N plain
 * socket writes with no per-socket framing or allocation. `payload` is a view of the JSON text in it.
 */
export class OutboundFrame {
  private constructor(
    readonly wire: Buffer,
    readonly payload: Buffer,
  ) {}

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
    const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
    const wire = Buffer.allocUnsafe(headerLength + length);
    wire[0] = 0x81; // FIN + text opcode
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
    return new OutboundFrame(wire, wire.subarray(headerLength));
  }
}
