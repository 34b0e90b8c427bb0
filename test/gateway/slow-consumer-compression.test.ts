import { randomBytes } from "node:crypto";
import { describe, expect } from "vitest";
import { CloseCode } from "../../src/protocol/index.js";
import { test } from "../fixtures.js";

/**
 * The slow-consumer bound with permessage-deflate on: what counts is what the TCP socket holds
 * unsent to the peer, deflated frames written to it at once like plain ones. A burst read as fast
 * as it comes is not a client failing to read; one that stops reading is cut.
 */
describe("slow consumer with compression", () => {
  test.override({
    backendOptions: { history: false },
    gatewayOptions: { history: false, compression: true, heartbeatInterval: 500, heartbeatTimeout: 20_000 },
  });

  /** Incompressible payloads: deflate shrinks them by a quarter at most (base64 of random bytes). */
  const blob = (bytes: number) => randomBytes((bytes * 3) / 4).toString("base64");

  test("cuts off with 4429 a client that stops reading", async ({ client: ready, backend, gateway }) => {
    const stalled = await ready("pat");
    stalled.socket.pause();
    const before = gateway.sessionCount;
    // 8 MB for a client with a 1 MB bound that reads nothing
    for (let i = 0; i < 512; i++) {
      await backend.publish("pat", { i, blob: blob(16 * 1024) }, { ack: false });
      if (i % 64 === 0) await backend.flush();
      if (gateway.sessionCount < before) break;
    }
    await backend.flush();
    await expect.poll(() => gateway.sessionCount, { timeout: 20_000 }).toBe(before - 1);
    stalled.socket.resume();
    const close = await stalled.waitClose(10_000);
    expect([CloseCode.SlowConsumer, 1006]).toContain(close.code);
    if (close.code === CloseCode.SlowConsumer)
      expect(stalled.frames.at(-1)).toMatchObject({ code: "SLOW_CONSUMER" });
  }, 60_000);

  test("does not cut off clients that read a 4 MB burst", async ({ client: ready, backend }) => {
    const readers = await Promise.all([ready("quin"), ready("quin"), ready("quin")]);
    for (const reader of readers) reader.answerPings();
    const total = 256;
    const payload = blob(16 * 1024); // 256 × 16 KB = 4 MB, four times the 1 MB bound
    for (let i = 0; i < total; i++) await backend.publish("quin", { i, payload }, { ack: false });
    await backend.flush();
    for (const reader of readers) {
      const got = await reader.waitForMessages(total, 30_000);
      expect(got.map((m) => (m.data as { i: number }).i)).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(reader.closed).toBeUndefined();
    }
  }, 60_000);
});
