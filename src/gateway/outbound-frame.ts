/**
 * A frame for clients, built once however many sockets it goes to: the JSON text, and (on first
 * use) the whole WebSocket frame around it — an unmasked, final text frame (RFC 6455 §5.2) — so a
 * fan-out to N sockets is N plain socket writes with no per-socket framing or allocation.
 */
export class OutboundFrame {
  private framed: Buffer | undefined;

  constructor(readonly payload: Buffer) {}

  static of(value: unknown): OutboundFrame {
    return new OutboundFrame(Buffer.from(JSON.stringify(value)));
  }

  get wire(): Buffer {
    this.framed ??= wsTextFrame(this.payload);
    return this.framed;
  }
}

function wsTextFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN + text opcode
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(frame, headerLength);
  return frame;
}
