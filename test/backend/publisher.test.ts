import { jetstreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HeraldBackend, HeraldBackendError, UnsafeNameError } from "../../src/backend/index.js";
import { freePort } from "../../src/testing/free-port.js";
import { type NatsServer, startNats } from "../../src/testing/nats-server.js";

let nats: NatsServer;
/** An independent raw subscriber, as a gateway would be. */
let observer: NatsConnection;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  observer = await connect({ servers: nats.url });
});

afterAll(async () => {
  await observer?.close();
  await nats?.stop();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function backend(prefix?: string): Promise<HeraldBackend> {
  const b = await HeraldBackend.connect({ servers: nats.url, ...(prefix ? { prefix } : {}) });
  cleanups.push(() => b.close());
  return b;
}

/** Collects every message on `subject` (wildcards allowed). */
async function collect(subject: string): Promise<{ messages: Msg[]; sub: Subscription }> {
  const messages: Msg[] = [];
  const sub = observer.subscribe(subject, { callback: (_err, msg) => void messages.push(msg) });
  cleanups.push(async () => sub.unsubscribe());
  await observer.flush();
  return { messages, sub };
}

async function createHistoryStream(): Promise<void> {
  const jsm = await jetstreamManager(observer);
  await jsm.streams.add({ name: "HERALD", subjects: ["herald.user.>", "herald.channel.>"] });
  cleanups.push(() => jsm.streams.delete("HERALD"));
}

describe("publish", () => {
  it("delivers JSON-encoded values and raw bytes to the user's subject", async () => {
    const b = await backend();
    const { messages } = await collect("herald.user.1");
    const bytes = new Uint8Array([0xff, 0x00, 0x41]);

    expect(b.publish("1", { text: "hello", n: 1 })).toBe("herald.user.1");
    b.publish("1", "hello!");
    b.publish("1", bytes);
    await b.flush();

    await expect.poll(() => messages.length, { timeout: 5000 }).toBe(3);
    expect(messages[0]?.json()).toEqual({ text: "hello", n: 1 });
    expect(messages[1]?.string()).toBe('"hello!"');
    expect([...(messages[2]?.data ?? [])]).toEqual([0xff, 0x00, 0x41]);
  });

  it("publishes to shared channels and honours the prefix", async () => {
    const b = await backend("acme.prod");
    const { messages } = await collect("acme.prod.>");
    expect(b.publishToChannel("news", [1, 2])).toBe("acme.prod.channel.news");
    b.publish("u-7", null);
    await b.flush();
    await expect
      .poll(() => messages.map((m) => [m.subject, m.string()]), { timeout: 5000 })
      .toEqual([
        ["acme.prod.channel.news", "[1,2]"],
        ["acme.prod.user.u-7", "null"],
      ]);
  });

  it.each(["1.*", ">", "2 q", "x\r\nSUB >", "", "a.b", "*", "tab\tid", "é"])(
    "refuses the hostile name %j and publishes nothing",
    async (name) => {
      const b = await backend();
      const { messages } = await collect(">");
      expect(() => b.publish(name, "leak")).toThrow(UnsafeNameError);
      expect(() => b.publishToChannel(name, "leak")).toThrow(UnsafeNameError);
      await expect(b.publishStored(name, "leak")).rejects.toBeInstanceOf(UnsafeNameError);
      await expect(b.publishStored({ channel: name }, "leak")).rejects.toMatchObject({ code: "UNSAFE_NAME" });
      // The connection is intact and only the legitimate message goes through.
      b.publish("ok", "fine");
      await b.flush();
      await expect.poll(() => messages.map((m) => m.subject), { timeout: 5000 }).toEqual(["herald.user.ok"]);
    },
  );

  it("rejects payloads that cannot be encoded", async () => {
    const b = await backend();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => b.publish("1", undefined)).toThrow(expect.objectContaining({ code: "INVALID_PAYLOAD" }));
    expect(() => b.publish("1", circular)).toThrow(expect.objectContaining({ code: "INVALID_PAYLOAD" }));
    expect(() => b.publish("1", 10n)).toThrow(expect.objectContaining({ code: "INVALID_PAYLOAD" }));
  });

  it("reports a payload over the server's max_payload as PUBLISH_FAILED", async () => {
    const b = await backend();
    const error = (() => {
      try {
        b.publish("1", new Uint8Array(2 * 1024 * 1024));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(HeraldBackendError);
    expect(error).toMatchObject({ code: "PUBLISH_FAILED", name: "PublishFailedError" });
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  it("throws NOT_CONNECTED after close()", async () => {
    const b = await HeraldBackend.connect({ servers: nats.url });
    await b.close();
    expect(b.connection.isClosed()).toBe(true);
    expect(() => b.publish("1", "x")).toThrow(expect.objectContaining({ code: "NOT_CONNECTED" }));
    await expect(b.publishStored("1", "x")).rejects.toMatchObject({ code: "NOT_CONNECTED" });
  });
});

describe("publishStored", () => {
  it("resolves the stream and increasing sequences once the history stream stores the message", async () => {
    await createHistoryStream();
    const b = await backend();
    const { messages } = await collect("herald.user.5");

    const first = await b.publishStored("5", { n: 1 });
    const second = await b.publishStored({ user: "5" }, { n: 2 });
    const third = await b.publishStored({ channel: "news" }, "shared");
    expect(first).toEqual({ subject: "herald.user.5", stream: "HERALD", seq: 1, duplicate: false });
    expect(second.seq).toBe(2);
    expect(third).toMatchObject({ subject: "herald.channel.news", stream: "HERALD", seq: 3 });
    // Stored messages are also ordinary NATS messages for live subscribers.
    await expect.poll(() => messages.map((m) => m.json()), { timeout: 5000 }).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it("stores a retried publish with the same msgId once", async () => {
    await createHistoryStream();
    const b = await backend();
    const original = await b.publishStored("5", "once", { msgId: "order-17" });
    const retry = await b.publishStored("5", "once", { msgId: "order-17" });
    expect(original.duplicate).toBe(false);
    expect(retry).toMatchObject({ seq: original.seq, duplicate: true });
  });

  it("rejects with NO_STREAM when no stream captures the subject", async () => {
    const b = await backend();
    const error = await b.publishStored("5", "lost").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeraldBackendError);
    expect(error).toMatchObject({ code: "NO_STREAM", name: "NoStreamError", subject: "herald.user.5" });
    expect((error as Error).message).toMatch(/no JetStream stream captures herald\.user\.5/);
  });

  it("rejects with NO_STREAM on a server without JetStream", async () => {
    const plain = await startNats();
    cleanups.push(() => plain.stop());
    const b = await HeraldBackend.connect({ servers: plain.url });
    cleanups.push(() => b.close());
    await expect(b.publishStored({ channel: "news" }, 1)).rejects.toMatchObject({ code: "NO_STREAM" });
  });
});

describe("HeraldBackend", () => {
  it("fails to connect with NOT_CONNECTED naming the servers", async () => {
    const port = await freePort();
    const error = await HeraldBackend.connect({ servers: `nats://127.0.0.1:${port}`, timeout: 1000 }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "NOT_CONNECTED", name: "NotConnectedError" });
    expect((error as Error).message).toContain(`cannot reach NATS at nats://127.0.0.1:${port}: `);
  });

  it("validates its options", async () => {
    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    expect(() => new HeraldBackend(nc, { prefix: "bad prefix" })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS" }),
    );
    expect(() => new HeraldBackend(nc, { prefix: "a.*" })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS" }),
    );
    await expect(HeraldBackend.connect({ servers: [] })).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
  });

  it("leaves a connection it did not open open on close()", async () => {
    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const b = new HeraldBackend(nc);
    const subscriptionsWithout = await nats.subscriptionCount();
    b.serveAuth(() => ({ ok: true, user: "1" }));
    await b.flush();
    await expect.poll(() => nats.subscriptionCount(), { timeout: 5000 }).toBe(subscriptionsWithout + 1);
    const subscriptionsBefore = await nats.subscriptionCount();
    await b.close();
    expect(nc.isClosed()).toBe(false);
    // The auth subscription is gone from the server.
    await expect.poll(() => nats.subscriptionCount(), { timeout: 5000 }).toBe(subscriptionsBefore - 1);
  });
});
