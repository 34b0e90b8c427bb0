import { describe, expect } from "vitest";
import { grant, HeraldBackend } from "../../src/backend/index.js";
import { CloseCode } from "../../src/protocol/index.js";
import { send, text } from "../../src/testing/http-stream-client.js";
import { httpBase, type ReceivedFrame, waitUntil } from "../../src/testing/index.js";
import { type Ready, test } from "../fixtures.js";

/**
 * HTTP-streaming on a real gateway and nats-server: the `auth` frame is POSTed, the response is the
 * connection's frames one per line, client frames go up as POSTs naming the stream in their body,
 * and a POST that reaches another gateway is passed on to the one holding the stream.
 */
const numbers = (frames: ReceivedFrame[]) => frames.map((f) => (f.data as { n: number }).n);

describe("HTTP-streaming", () => {
  test("POSTing auth opens a stream: the stream's id, padding, the anti-buffering headers, then ready and messages", async ({
    gateway,
    openStream,
    raw,
  }) => {
    const stream = await openStream({ type: "auth", token: "alice" });
    expect(stream.response.headers["content-type"]).toBe("application/x-ndjson; charset=utf-8");
    expect(stream.response.headers["x-accel-buffering"]).toBe("no");
    expect(stream.response.headers["cache-control"]).toBe("no-cache, no-transform");
    const ready = await stream.next();
    expect(ready).toMatchObject({ type: "ready", user: "alice", channels: ["user.alice"] });
    expect(stream.streamId).toMatch(new RegExp(`^${gateway.id}\\.[A-Za-z0-9_-]{22}$`));
    // The padding comes before any frame, in the first bytes.
    expect(stream.opening.length).toBeGreaterThan(2048);
    // A payload published with line breaks still arrives as one frame on one line.
    raw.publish("herald.user.alice", '{\n  "n": 1,\n  "text": "two\\nlines"\n}');
    const [message] = await stream.waitForMessages(1);
    expect(message).toMatchObject({ channel: "user.alice", data: { n: 1, text: "two\nlines" } });
    expect(gateway.sessionCount).toBe(1);
  });

  test("frames POSTed to the stream reach its session: subscribe, rpc and ping are answered down the stream", async ({
    nats,
    streamClient,
    backend,
  }) => {
    backend.onSubscribe(() => grant());
    const herald = await HeraldBackend.connect({ servers: nats.url });
    try {
      herald.onRpc("echo", (data, context) => ({ data, user: context.user }));
      await herald.flush();
      await backend.flush();
      const stream = await streamClient("bob");
      expect(await stream.send([{ type: "subscribe", channel: "channel.news" }, { type: "ping" }])).toBe(204);
      // The ping is answered at once, the subscribe once the backend allowed it.
      await stream.next("pong");
      expect(await stream.next("subscribed")).toMatchObject({ channel: "channel.news" });
      expect(await stream.send({ type: "rpc", id: 1, method: "echo", data: { q: 1 } })).toBe(204);
      expect(await stream.next("rpc_result")).toMatchObject({ id: 1, data: { data: { q: 1 }, user: "bob" } });
      await backend.publishToChannel("news", { n: 7 });
      expect(numbers(await stream.waitForMessages(1))).toEqual([7]);
    } finally {
      await herald.close();
    }
  });

  test("a POST that reaches another gateway is passed on to the gateway holding the stream", async ({
    gatewayPair: [first, second],
    streamClient,
    backend,
  }) => {
    backend.onSubscribe(() => grant());
    await backend.flush();
    const stream = await streamClient("carol", { at: first });
    expect(await stream.send({ type: "subscribe", channel: "channel.room" }, second.url)).toBe(204);
    expect(await stream.next("subscribed")).toMatchObject({ channel: "channel.room" });
    expect(await stream.send({ type: "ping" }, second.url)).toBe(204);
    await stream.next("pong");
    expect(second.sessionCount).toBe(0);
    // A stream that ended is unknown wherever the POST lands.
    stream.close();
    await waitUntil(() => first.sessionCount === 0, "the stream's session closed");
    expect(await stream.send({ type: "ping" }, second.url)).toBe(404);
    expect(await stream.send({ type: "ping" }, first.url)).toBe(404);
  });

  test("recovers what a stream missed, exactly once, on another gateway", async ({
    gatewayPair: [first, second],
    streamClient,
    backend,
  }) => {
    const stream = await streamClient("dora", { at: first });
    const ready = stream.frames[0] as unknown as Ready;
    await backend.publishStored("dora", { n: 1 });
    const [seen] = await stream.waitForMessages(1);
    stream.close();
    for (const n of [2, 3]) await backend.publishStored("dora", { n });
    const again = await streamClient("dora", {
      at: second,
      recover: { epoch: ready.epoch, since: { "user.dora": seen?.seq } },
    });
    expect(again.frames[0]).toMatchObject({ type: "ready", recovered: true });
    await backend.publishStored("dora", { n: 4 });
    expect(numbers(await again.waitForMessages(3))).toEqual([2, 3, 4]);
  });

  describe("with fast heartbeats", () => {
    test.override({ gatewayOptions: { heartbeatInterval: 200, heartbeatTimeout: 1000 } });

    test("pings come as frames; a client answering them stays, one that does not is cut with HEARTBEAT_TIMEOUT", async ({
      streamClient,
    }) => {
      const answering = (await streamClient("erin")).answerPings();
      const silent = await streamClient("fred");
      await silent.next("ping");
      expect(await silent.next("error", 5000)).toMatchObject({ code: "HEARTBEAT_TIMEOUT" });
      expect(await silent.waitClose()).toEqual({
        code: CloseCode.HeartbeatTimeout,
        reason: "HEARTBEAT_TIMEOUT",
      });
      expect(answering.closed).toBeUndefined();
      expect(answering.frames.filter((f) => f.type === "ping").length).toBeGreaterThan(3);
    });
  });

  test("a drain tells a stream to reconnect and ends it with 1012", async ({ gateway, streamClient }) => {
    const stream = await streamClient("gus");
    const drained = gateway.drain();
    expect(await stream.next("error")).toMatchObject({ code: "DRAINING" });
    expect(await stream.waitClose()).toEqual({ code: CloseCode.ServiceRestart, reason: "DRAINING" });
    await drained;
  });

  describe("a client that stops reading", () => {
    test.override({ gatewayOptions: { maxBufferedBytes: 64 * 1024 } });

    test("is cut with SLOW_CONSUMER once the response holds more than --max-buffered-bytes", async ({
      gateway,
      streamClient,
      backend,
    }) => {
      const reader = await streamClient("hal");
      const stalled = await streamClient("hal");
      stalled.pause();
      const payload = "x".repeat(60_000);
      // Enough to fill the kernel's buffers on both sides and then the response's own.
      for (let n = 0; n < 400 && gateway.sessionCount === 2; n++) {
        await backend.publish("hal", { n, payload });
        if (n % 20 === 19)
          await waitUntil(() => reader.messages().length > n - 5, "the reader keeps up", {
            timeoutMs: 10_000,
          });
      }
      await waitUntil(() => gateway.sessionCount === 1, "the stalled stream is cut", { timeoutMs: 10_000 });
      const metrics = await (await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/herald_closes_total\{code="4429"\} 1/);
      expect(reader.closed).toBeUndefined();
    });
  });

  test("answers a request without a valid first frame as a WebSocket does: an error frame and a close", async ({
    openStream,
  }) => {
    const stream = await openStream("not json");
    expect(await stream.next("error")).toMatchObject({ code: "INVALID_JSON" });
    expect(await stream.waitClose()).toEqual({ code: 4400, reason: "INVALID_JSON" });
  });

  test("only POST opens a stream; a GET of the WebSocket path without an upgrade is 404 as before", async ({
    gateway,
  }) => {
    const base = httpBase(gateway.url);
    const get = await send("GET", `${base}/stream`, {});
    await text(get);
    expect(get.statusCode).toBe(405);
    expect(get.headers.allow).toBe("POST, OPTIONS");
    const plain = await send("GET", base, {});
    await text(plain);
    expect(plain.statusCode).toBe(404);
  });
});
