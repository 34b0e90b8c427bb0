import { jetstreamManager } from "@nats-io/jetstream";
import { headers, type Msg } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import { liveSequence, sequenceInHeaderBlock } from "../../src/gateway/history/live-sequence.js";
import { waitUntil } from "../../src/testing/index.js";
import { test as base } from "../fixtures.js";

/** Four messages as a stream's RePublish sends them, the third with headers of its own. */
const test = base.extend<{ live: Msg[] }>({
  live: [
    async ({ nats }, use) => {
      const live: Msg[] = [];
      const nc = await connect({ servers: nats.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({
        name: "LIVE",
        subjects: ["t.user.>"],
        republish: { src: "t.>", dest: "t.live.>" },
      });
      nc.subscribe("t.live.>", { callback: (_err, msg) => void live.push(msg) });
      await nc.flush();
      const withHeaders = headers();
      withHeaders.set("Nats-Msg-Id", "id-1");
      withHeaders.set("X-App", "Nats-Sequence: 999");
      nc.publish("t.user.a", "1");
      nc.publish("t.user.b", "2");
      nc.publish("t.user.a", "3", { headers: withHeaders });
      nc.publish("t.user.a", "4");
      await waitUntil(() => live.length === 4, "the republished messages");
      await nc.close();
      await use(live);
    },
    { scope: "file" },
  ],
});

/** The bytes nats.js received a message in (header block first) and the block's length. */
function receivedBytes(msg: Msg): { bytes: Uint8Array; length: number } {
  const { _rdata: bytes, _msg: parsed } = msg as unknown as { _rdata: Uint8Array; _msg: { hdr: number } };
  return { bytes, length: parsed.hdr };
}

/** The stream position read from a real RePublish's raw headers agrees with the general parser. */
describe("liveSequence", () => {
  test("reads seq and prev from the raw header block, as the general parser does", ({ live }) => {
    const read = live.map((msg) => liveSequence(msg));
    expect(read).toEqual([
      { seq: 1, prev: 0 },
      { seq: 2, prev: 0 },
      { seq: 3, prev: 1 },
      { seq: 4, prev: 3 },
    ]);
    for (const msg of live) {
      // the raw bytes are where liveSequence reads them (not the general parser's fallback)
      const { bytes, length } = receivedBytes(msg);
      expect(length).toBeGreaterThan(0);
      expect(sequenceInHeaderBlock(bytes, length)).toEqual(liveSequence(msg));
      expect(liveSequence(msg)).toEqual({
        seq: Number(msg.headers?.get("Nats-Sequence")),
        prev: Number(msg.headers?.get("Nats-Last-Sequence")),
      });
    }
  });

  test("refuses a sequence that is not a decimal number, and takes the first line of each name", () => {
    const block = (lines: string[]) => Buffer.from(`NATS/1.0\r\n${lines.join("\r\n")}\r\n\r\n`);
    expect(sequenceInHeaderBlock(block(["Nats-Sequence: 12", "Nats-Last-Sequence: 7"]))).toEqual({
      seq: 12,
      prev: 7,
    });
    expect(sequenceInHeaderBlock(block(["Nats-Sequence: 12"]))).toEqual({ seq: 12, prev: 0 });
    expect(sequenceInHeaderBlock(block(["X-App: 1", "Nats-Sequence: 5", "Nats-Sequence: 6"]))).toEqual({
      seq: 5,
      prev: 0,
    });
    expect(sequenceInHeaderBlock(block(["Nats-Sequence: 1x"]))).toBeUndefined();
    expect(sequenceInHeaderBlock(block(["Nats-Sequence: 0"]))).toBeUndefined();
    expect(sequenceInHeaderBlock(block(["Nats-Sequence: 99999999999999999999"]))).toBeUndefined();
    expect(sequenceInHeaderBlock(block(["Nats-Sequence: 3", "Nats-Last-Sequence: -1"]))).toBeUndefined();
    expect(sequenceInHeaderBlock(block(["X-Nats-Sequence: 3"]))).toBeUndefined();
    // the block ends where the message's headers end: a sequence in the payload after it is not read
    const withPayload = Buffer.concat([block(["X-App: 1"]), Buffer.from("\r\nNats-Sequence: 4\r\n")]);
    expect(sequenceInHeaderBlock(withPayload, block(["X-App: 1"]).length)).toBeUndefined();
  });

  test("gives nothing for a message without a stream sequence", async ({ nats }) => {
    const nc = await connect({ servers: nats.url });
    const got = new Promise<Msg>((resolve) => nc.subscribe("plain", { callback: (_e, m) => resolve(m) }));
    await nc.flush();
    nc.publish("plain", "x");
    expect(liveSequence(await got)).toBeUndefined();
    await nc.close();
  });
});
