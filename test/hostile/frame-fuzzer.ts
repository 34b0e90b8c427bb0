/** mulberry32: a small seeded PRNG, so a failing fuzz run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Random = () => number;

/** `n` bytes from the seeded generator: every byte of a run follows from its seed. */
export function seededBytes(random: Random, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}

const int = (random: Random, n: number) => Math.floor(random() * n);
const pick = <T>(random: Random, items: readonly T[]): T => items[int(random, items.length)] as T;

/**
 * One client→server WebSocket frame as raw bytes (RFC 6455 §5.2), with every field settable so
 * that malformed framing can be produced: reserved bits, odd opcodes, a missing mask, lying lengths.
 */
export function rawFrame(
  payload: Uint8Array,
  mask: Uint8Array | undefined,
  options: { opcode?: number; fin?: boolean; rsv?: number; claimedLength?: bigint } = {},
): Buffer {
  const { opcode = 1, fin = true, rsv = 0 } = options;
  const masked = mask !== undefined;
  const length = options.claimedLength ?? BigInt(payload.length);
  const header: number[] = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const maskBit = masked ? 0x80 : 0;
  if (length < 126n) header.push(maskBit | Number(length));
  else if (length < 65536n) header.push(maskBit | 126, Number(length >> 8n) & 0xff, Number(length) & 0xff);
  else {
    header.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) header.push(Number((length >> shift) & 0xffn));
  }
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i] = (body[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return Buffer.concat([Buffer.from(header), mask ?? Buffer.alloc(0), body]);
}

const FIXED_MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const text = (value: string) => rawFrame(Buffer.from(value, "utf8"), FIXED_MASK);

const WEIRD_VALUES: readonly unknown[] = [
  null,
  true,
  -1,
  0,
  1e308,
  -1e308,
  2 ** 53 + 2,
  0.5,
  "",
  "€".repeat(70),
  "\ud800",
  "x\r\nSUB > 1\r\n",
  "a".repeat(9000),
  [],
  {},
  { __proto__: { polluted: true } },
  { constructor: { prototype: { polluted: true } } },
  [[[[[[[[]]]]]]]],
];

const VALID: readonly (() => Record<string, unknown>)[] = [
  () => ({ type: "ping" }),
  () => ({ type: "pong" }),
  () => ({ type: "refresh", token: "fuzz" }),
  () => ({ type: "auth", token: "fuzz", recover: { epoch: "1", since: { "user.fuzz": 3 } } }),
  () => ({ type: "rpc", id: 1, method: "fuzz", data: { a: [1, "x"] }, timeout: 200 }),
  () => ({ type: "subscribe", channel: "channel.fuzz" }),
  () => ({ type: "subscribe", channel: "channel.fuzz-2", recover: { epoch: "1", since: 3 } }),
  () => ({ type: "unsubscribe", channel: "channel.fuzz" }),
];

/** Channel names that must never widen a subscription or reach another subject. */
const HOSTILE_CHANNELS: readonly string[] = [
  "channel.*",
  "channel.>",
  "channel.a.b",
  "user.other",
  "live.channel.x",
  "channel.x\r\nSUB herald.> 9",
  "channel.\u0000",
  "channel.€",
  "channel.",
  `channel.${"x".repeat(200)}`,
];

/** A valid frame with one to three mutations: a field dropped, retyped, renamed or added. */
function mutatedJson(random: Random): string {
  const frame = pick(random, VALID)();
  for (let n = 1 + int(random, 3); n > 0; n--) {
    const keys = Object.keys(frame);
    const key = pick(random, keys);
    switch (int(random, 6)) {
      case 0:
        delete frame[key];
        break;
      case 1:
        frame[key] = pick(random, WEIRD_VALUES);
        break;
      case 2:
        frame[
          pick(random, [
            "__proto__",
            "constructor",
            "type",
            "€",
            "recover",
            "token",
            "method",
            "id",
            "data",
            "channel",
          ])
        ] = pick(random, WEIRD_VALUES);
        break;
      case 3:
        frame.type = pick(random, [
          "auth",
          "AUTH",
          "ping ",
          "€€€",
          "subscribe",
          "unsubscribe",
          "",
          "refresh",
          "message",
          "rpc",
        ]);
        break;
      case 4:
        frame.channel = pick(random, [...HOSTILE_CHANNELS, ...WEIRD_VALUES]);
        break;
      default:
        frame.recover = {
          epoch: pick(random, WEIRD_VALUES),
          since: { [pick(random, ["€", "user.x", ""])]: pick(random, WEIRD_VALUES) },
        };
    }
  }
  const json = JSON.stringify(frame) ?? "null";
  // sometimes cut or corrupt the text itself
  const cut = int(random, 6);
  if (cut === 0) return json.slice(0, int(random, json.length));
  if (cut === 1) return `${json}${json}`;
  return json;
}

function deepNesting(random: Random): string {
  const depth = 1000 + int(random, 20_000);
  return `{"type":"auth","token":${"[".repeat(depth)}${"]".repeat(depth)}}`;
}

/** Framing anomalies `ws` must refuse by closing that one socket. */
function badFraming(random: Random): Buffer {
  const json = Buffer.from('{"type":"ping"}');
  switch (int(random, 9)) {
    case 0:
      return rawFrame(json, FIXED_MASK, { rsv: 1 + int(random, 7) });
    case 1:
      return rawFrame(json, FIXED_MASK, { opcode: pick(random, [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) });
    case 2:
      return rawFrame(json, undefined); // a client frame without a mask
    case 3:
      return rawFrame(Buffer.alloc(200, 1), FIXED_MASK, { opcode: 9 }); // a ping over 125 bytes
    case 4:
      return rawFrame(Buffer.alloc(4), FIXED_MASK, { opcode: 9, fin: false }); // a fragmented control frame
    case 5:
      return rawFrame(json, FIXED_MASK, { opcode: 0 }); // a continuation with nothing to continue
    case 6:
      return rawFrame(json, FIXED_MASK, { claimedLength: 2n ** 63n - 1n }); // a length far over the limit
    case 7:
      return rawFrame(Buffer.from([0x03, 0xe7]), FIXED_MASK, { opcode: 8 }); // close with code 999
    default:
      return rawFrame(seededBytes(random, 1 + int(random, 64)), FIXED_MASK); // text that is not UTF-8
  }
}

/** A fragmented text message with a ping between its parts: valid framing, mutated content. */
function fragmented(random: Random): Buffer {
  const body = Buffer.from(mutatedJson(random));
  const split = int(random, body.length + 1);
  return Buffer.concat([
    rawFrame(body.subarray(0, split), FIXED_MASK, { fin: false }),
    rawFrame(Buffer.alloc(0), FIXED_MASK, { opcode: 9 }),
    rawFrame(body.subarray(split), FIXED_MASK, { opcode: 0 }),
  ]);
}

/** The next fuzz frame: mostly JSON mutations, then random bytes, nesting and framing anomalies. */
export function nextFuzzFrame(random: Random): Buffer {
  const kind = random();
  if (kind < 0.6) return text(mutatedJson(random));
  if (kind < 0.7) return fragmented(random);
  if (kind < 0.8)
    return rawFrame(seededBytes(random, int(random, 300)), FIXED_MASK, { opcode: pick(random, [1, 2]) });
  if (kind < 0.83) return text(deepNesting(random));
  return badFraming(random);
}

/** The opening handshake of a client, as raw bytes. */
export function upgradeRequest(port: number, path = "/ws"): string {
  // The key is RFC 6455's sample nonce: the server's answer to it is not what is being fuzzed.
  return [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    "",
    "",
  ].join("\r\n");
}

export { text as textFrame };
