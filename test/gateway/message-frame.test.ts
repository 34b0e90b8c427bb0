import { describe, expect, it } from "vitest";
import { buildMessageFrame, channelFramePrefix, isJson } from "../../src/gateway/delivery/message-frame.js";
import { seededRandom } from "../client/seeded-random.js";

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
function parses(bytes: Uint8Array): boolean {
  try {
    JSON.parse(strict.decode(bytes));
    return true;
  } catch {
    return false;
  }
}

describe("message frames", () => {
  it("splice a payload in untouched exactly when it is JSON in valid UTF-8", () => {
    const random = seededRandom(15);
    const seeds = [
      '{"a":[1,2.5e3,-0,true,false,null,"x\\u00e9\\n"]}',
      " [ ] ",
      '"text"',
      "0",
      "-12.5E-3",
      "true",
      '{"ü":"世界"}',
      "\t{}\r\n",
    ];
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      Buffer.from("\uFEFF{}"), // a BOM: not JSON, or the frame would not be
      Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), // invalid UTF-8 inside a string
      Buffer.from("plain text"),
      Buffer.from("{} x"),
      Buffer.from("01"),
      Buffer.from("tru"),
    ];
    for (const seed of seeds) {
      cases.push(Buffer.from(seed));
      for (let i = 0; i < 300; i++) {
        const bytes = Buffer.from(seed);
        const at = Math.floor(random() * bytes.length);
        const edit = random();
        if (edit < 0.4) bytes[at] = Math.floor(random() * 256);
        else if (edit < 0.7) bytes[at] = ' {}[]",:0-.e'.charCodeAt(Math.floor(random() * 12));
        cases.push(edit < 0.85 ? bytes : bytes.subarray(0, at));
      }
    }
    for (const payload of cases) {
      expect(isJson(payload), Buffer.from(payload).toString("hex")).toBe(parses(payload));
      const frame = buildMessageFrame(channelFramePrefix("user.a"), payload, 7, 6);
      const parsed = JSON.parse(frame.payload.toString("utf8")) as { data: unknown; seq: number };
      expect(parsed.seq).toBe(7);
      if (isJson(payload)) expect(parsed.data).toEqual(JSON.parse(strict.decode(payload)));
      else expect(typeof parsed.data).toBe("string");
    }
  });

  it("carry seq and prev of any size exactly as JSON.stringify writes them", () => {
    const payload = Buffer.from('{"n":1}');
    const values = [0, 1, 9, 10, 99, 100, 12_345, 999_999_999, 4_294_967_296, Number.MAX_SAFE_INTEGER];
    for (const seq of values)
      for (const prev of [undefined, ...values]) {
        const frame = buildMessageFrame(channelFramePrefix("user.é"), payload, seq, prev);
        const expected =
          prev === undefined
            ? { type: "message", channel: "user.é", seq, data: { n: 1 } }
            : { type: "message", channel: "user.é", seq, prev, data: { n: 1 } };
        expect(frame.payload.toString("utf8")).toBe(JSON.stringify(expected));
        expect(frame.wire.byteLength - frame.payload.byteLength).toBe(frame.payload.byteLength < 126 ? 2 : 4);
      }
    const plain = buildMessageFrame(channelFramePrefix("c"), payload, undefined, undefined);
    expect(plain.payload.toString("utf8")).toBe('{"type":"message","channel":"c","data":{"n":1}}');
  });
});
