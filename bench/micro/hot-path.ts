/**
 * Micro-benchmark of the gateway's per-message work, once per live message whatever the number of
 * sockets: reading the stream position from a republished message's headers, and checking whether
 * its payload is JSON. Run: `npx tsx bench/micro/hot-path.ts`. Prints ns per call, best of 5 runs.
 * The headers are captured from a real nats-server's RePublish, not written by hand.
 */

import { jetstreamManager } from "@nats-io/jetstream";
import { type Msg, MsgHdrsImpl, headers as natsHeaders } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { isJson } from "../../src/gateway/delivery/message-frame.js";
import { liveSequence, sequenceInHeaderBlock } from "../../src/gateway/history/live-sequence.js";
import { startNats } from "../../src/testing/index.js";
import { isJsonText } from "./json-validator.js";

const ITERATIONS = 200_000;

function measure(name: string, iterations: number, fn: () => unknown): void {
  let best = Number.POSITIVE_INFINITY;
  let sink = 0;
  for (let run = 0; run < 5; run++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) if (fn()) sink++;
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations);
  }
  console.log(`${name.padEnd(72)} ${best.toFixed(0).padStart(8)} ns${sink < 0 ? "" : ""}`);
}

/** Two republished messages as received: a plain publish, and one with a Nats-Msg-Id. */
async function capturedMessages(): Promise<Msg[]> {
  const nats = await startNats({ jetstream: true });
  try {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: "BENCH",
      subjects: ["herald.user.>"],
      republish: { src: "herald.>", dest: "herald.live.>" },
    });
    const messages: Msg[] = [];
    const got = new Promise<void>((resolve) => {
      nc.subscribe("herald.live.>", {
        callback: (_err, msg) => {
          messages.push(msg);
          if (messages.length === 2) resolve();
        },
      });
    });
    await nc.flush();
    nc.publish("herald.user.bench-user-42", '{"n":1}');
    const withId = natsHeaders();
    withId.set("Nats-Msg-Id", "run-1-42");
    nc.publish("herald.user.bench-user-42", '{"n":2}', { headers: withId });
    await got;
    await nc.close();
    return messages;
  } finally {
    await nats.stop();
  }
}

/** The check as it was: decode strictly, parse, catch. */
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
function parseCheck(payload: Uint8Array): boolean {
  if (payload.byteLength === 0) return false;
  try {
    JSON.parse(strict.decode(payload));
    return true;
  } catch {
    return false;
  }
}

/** A message's raw header block, as nats.js received it (`_rdata[0, _msg.hdr)`). */
function headerBlock(msg: Msg): Buffer {
  const { _rdata: bytes, _msg: parsed } = msg as unknown as { _rdata: Uint8Array; _msg: { hdr: number } };
  return Buffer.from(bytes.subarray(0, parsed.hdr));
}

/** The read as it was: a Buffer over the block, then two byte searches. */
function searchedSequence(block: Buffer): number | undefined {
  const numberAfter = (name: Buffer) => {
    const at = block.indexOf(name);
    if (at < 0) return undefined;
    let value = 0;
    let i = at + name.length;
    while (block[i] === 32) i++;
    for (let byte = block[i]; byte !== undefined && byte >= 48 && byte <= 57; byte = block[++i])
      value = value * 10 + (byte - 48);
    return value;
  };
  const seq = numberAfter(SEARCHED_SEQUENCE);
  const prev = block.indexOf(SEARCHED_LAST) < 0 ? 0 : numberAfter(SEARCHED_LAST);
  return seq === undefined || prev === undefined ? undefined : seq + prev;
}
const SEARCHED_SEQUENCE = Buffer.from("\r\nNats-Sequence:");
const SEARCHED_LAST = Buffer.from("\r\nNats-Last-Sequence:");

const messages = await capturedMessages();
const blocks = messages.map(headerBlock);
console.log(
  `stream position from RePublish headers (${blocks[0]!.length} and ${blocks[1]!.length} byte blocks)`,
);
for (const [i, block] of blocks.entries()) {
  const msg = messages[i]!;
  measure(`  general parser: MsgHdrsImpl.decode + 2 gets (#${i + 1})`, ITERATIONS, () => {
    const h = MsgHdrsImpl.decode(block);
    return Number(h.get("Nats-Sequence")) + Number(h.get("Nats-Last-Sequence"));
  });
  measure(`  as before: a Buffer over the block, two byte searches (#${i + 1})`, ITERATIONS, () => {
    const { _rdata: bytes, _msg: parsed } = msg as unknown as { _rdata: Uint8Array; _msg: { hdr: number } };
    return searchedSequence(Buffer.from(bytes.buffer, bytes.byteOffset, parsed.hdr));
  });
  measure(`  liveSequence: one pass over the received bytes (#${i + 1})`, ITERATIONS, () =>
    Boolean(liveSequence(msg)),
  );
  if (liveSequence(msg)?.seq !== sequenceInHeaderBlock(block)?.seq) throw new Error("reads disagree");
}

const payloads: [string, Buffer][] = [
  ["100 B JSON object", Buffer.from(JSON.stringify({ type: "notice", id: 12345, text: "x".repeat(60) }))],
  [
    "1 KB JSON object, nested",
    Buffer.from(
      JSON.stringify({
        items: Array.from({ length: 12 }, (_, i) => ({
          id: i,
          name: `item ${i}`,
          tags: ["a", "b"],
          ok: true,
        })),
      }),
    ),
  ],
  ["8 KB JSON, non-ASCII text", Buffer.from(JSON.stringify({ text: "Grüße, 世界! ".repeat(500) }))],
  ["60 KB JSON string", Buffer.from(JSON.stringify({ n: 1, pad: "x".repeat(60_000) }))],
  [
    "100 B plain text (not JSON)",
    Buffer.from("hello there, this is not JSON but a plain text notification."),
  ],
];
console.log("payload is JSON?");
for (const [name, payload] of payloads) {
  const answer = parseCheck(payload);
  if (isJson(payload) !== answer || isJsonText(payload) !== answer)
    throw new Error(`checks disagree: ${name}`);
  const iterations = payload.length > 10_000 ? 5_000 : ITERATIONS;
  measure(`  JSON.parse(strict decode), as before: ${name}`, iterations, () => parseCheck(payload));
  measure(`  isJson, first/last byte then JSON.parse: ${name}`, iterations, () => isJson(payload));
  measure(`  one-pass byte validator (not used): ${name}`, iterations, () => isJsonText(payload));
}
