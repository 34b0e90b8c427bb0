import { describe, expect } from "vitest";
import { HeraldBackend, HeraldBackendError, UnsafeNameError } from "../../src/backend/index.js";
import { freePort } from "../../src/testing/index.js";
import { stackTest as test } from "../fixtures.js";

/**
 * The SDK's publish on a nats-server per file; `raw` (and `collect`) is an independent subscriber,
 * as a gateway would be. Tests that stop NATS start a server of their own.
 */
describe("publish, history on (the default)", () => {
  test("resolves once the history stream stored the message, with its sequence", async ({
    nats,
    launch,
    collect,
    historyStream,
  }) => {
    await historyStream();
    const b = await launch.backend(nats);
    const messages = await collect("herald.>");
    const bytes = new Uint8Array([0xff, 0x00, 0x41]);

    const first = await b.publish("1", { text: "hello", n: 1 });
    expect(first).toEqual({
      stored: true,
      subject: "herald.user.1",
      stream: "HERALD",
      seq: 1,
      duplicate: false,
    });
    expect(await b.publish({ user: "1" }, "hello!")).toMatchObject({ stored: true, seq: 2 });
    expect(await b.publishToChannel("news", bytes)).toMatchObject({
      stored: true,
      subject: "herald.channel.news",
      seq: 3,
    });
    // Stored messages are ordinary NATS messages for live subscribers too.
    await expect.poll(() => messages.length, { timeout: 5000 }).toBe(3);
    expect(messages[0]?.json()).toEqual({ text: "hello", n: 1 });
    expect(messages[1]?.string()).toBe('"hello!"');
    expect([...(messages[2]?.data ?? [])]).toEqual([0xff, 0x00, 0x41]);
  });

  test("stores a publish repeated with the same msgId once", async ({ nats, launch, historyStream }) => {
    await historyStream();
    const b = await launch.backend(nats);
    const original = await b.publish("5", "once", { msgId: "order-17" });
    const retry = await b.publishStored("5", "once", { msgId: "order-17" });
    expect(original).toMatchObject({ stored: true, duplicate: false });
    expect(retry).toMatchObject({ seq: original.stored ? original.seq : -1, duplicate: true });
  });

  test("keeps trying while NATS is down and stores the message once when it is back", async ({
    launch,
    historyStream,
  }) => {
    const own = await launch.nats({ jetstream: true });
    const jsm = await historyStream(own);
    const b = await launch.backend(own);
    await own.halt();
    const publishing = b.publish("7", { n: 1 }, { timeout: 30_000 });
    // The publish is still trying when the server comes back with its stream (file storage).
    await own.start();
    expect(await publishing).toMatchObject({ stored: true, seq: 1 });
    expect((await jsm.streams.info("HERALD")).state.messages).toBe(1);
  });

  test("rejects with TIMEOUT when nothing acknowledges within the timeout", async ({
    launch,
    historyStream,
  }) => {
    const own = await launch.nats({ jetstream: true });
    await historyStream(own);
    const b = await launch.backend(own);
    await own.halt();
    const error = await b.publish("7", "late", { timeout: 1500 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "TIMEOUT", name: "PublishTimeoutError" });
    expect((error as Error).message).toMatch(/publishing again with the same msgId is safe/);
  });

  test("rejects with NO_STREAM at once when no stream captures the subject", async ({ nats, launch }) => {
    const b = await launch.backend(nats);
    // A timeout longer than the test's own: only an immediate answer lets the test finish.
    const error = await b.publish("5", "lost", { timeout: 600_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeraldBackendError);
    expect(error).toMatchObject({ code: "NO_STREAM", name: "NoStreamError", subject: "herald.user.5" });
    expect((error as Error).message).toMatch(/no JetStream stream captures herald\.user\.5/);
    expect((error as Error).message).toMatch(/\{ history: false \}/);
  });

  test("rejects with NO_STREAM on a server without JetStream", async ({ launch }) => {
    const plain = await launch.nats();
    const b = await launch.backend(plain);
    await expect(b.publishToChannel("news", 1, { timeout: 600_000 })).rejects.toMatchObject({
      code: "NO_STREAM",
    });
  });
});

describe("publish without an acknowledgement", () => {
  test("sends with { ack: false } and says nothing was acknowledged", async ({ nats, launch, collect }) => {
    const b = await launch.backend(nats);
    const messages = await collect("acme.prod.>");
    const prefixed = await launch.backend(nats, { prefix: "acme.prod" });
    expect(await prefixed.publishToChannel("news", [1, 2], { ack: false })).toEqual({
      stored: false,
      subject: "acme.prod.channel.news",
    });
    await prefixed.publish("u-7", null, { ack: false });
    await prefixed.flush();
    await expect
      .poll(() => messages.map((m) => [m.subject, m.string()]), { timeout: 5000 })
      .toEqual([
        ["acme.prod.channel.news", "[1,2]"],
        ["acme.prod.user.u-7", "null"],
      ]);
    expect(b.prefix).toBe("herald");
  });

  test("is the default of a backend created with history: false", async ({ nats, launch, collect }) => {
    const b = await launch.backend(nats, { history: false });
    const messages = await collect("herald.user.9");
    expect(await b.publish("9", "live only")).toEqual({ stored: false, subject: "herald.user.9" });
    await b.flush();
    await expect.poll(() => messages.map((m) => m.string()), { timeout: 5000 }).toEqual(['"live only"']);
    // An acknowledged publish can still be asked for explicitly. Nobody stores it; the subscriber
    // gets it without answering (as a gateway with history off would), and the error says both.
    const error = await b.publish("9", "asked", { ack: true, timeout: 600_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "NO_STREAM" });
    expect((error as Error).message).toMatch(/live subscribers may have received it/);
    expect(messages.map((m) => m.string())).toEqual(['"live only"', '"asked"']);
  });
});

describe("publish refuses bad input before sending anything", () => {
  test.for(["1.*", ">", "2 q", "x\r\nSUB >", "", "a.b", "*", "tab\tid", "é"])(
    "refuses the hostile name %j and publishes nothing",
    async (name, { nats, launch, collect }) => {
      const b = await launch.backend(nats);
      const messages = await collect(">");
      await expect(b.publish(name, "leak")).rejects.toBeInstanceOf(UnsafeNameError);
      await expect(b.publish(name, "leak", { ack: false })).rejects.toBeInstanceOf(UnsafeNameError);
      await expect(b.publishToChannel(name, "leak", { ack: false })).rejects.toBeInstanceOf(UnsafeNameError);
      await expect(b.publishStored(name, "leak")).rejects.toBeInstanceOf(UnsafeNameError);
      await expect(b.publishStored({ channel: name }, "leak")).rejects.toMatchObject({ code: "UNSAFE_NAME" });
      // The connection is intact and only the legitimate message goes through.
      await b.publish("ok", "fine", { ack: false });
      await b.flush();
      await expect.poll(() => messages.map((m) => m.subject), { timeout: 5000 }).toEqual(["herald.user.ok"]);
    },
  );

  test("rejects payloads that cannot be encoded", async ({ nats, launch }) => {
    const b = await launch.backend(nats);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const ack of [true, false]) {
      for (const payload of [undefined, circular, 10n]) {
        await expect(b.publish("1", payload, { ack })).rejects.toMatchObject({ code: "INVALID_PAYLOAD" });
      }
    }
  });

  test("rejects a msgId that could inject a header, and a bad timeout", async ({ nats, launch }) => {
    const b = await launch.backend(nats);
    for (const options of [{ msgId: "a\r\nNats-Expected-Stream: X" }, { msgId: "" }, { timeout: 0 }]) {
      await expect(b.publish("1", "x", options)).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
    }
  });

  test("reports a payload over the server's max_payload as PUBLISH_FAILED", async ({
    nats,
    launch,
    historyStream,
  }) => {
    await historyStream();
    const b = await launch.backend(nats);
    for (const ack of [false, true]) {
      const error = await b.publish("1", new Uint8Array(2 * 1024 * 1024), { ack }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HeraldBackendError);
      expect(error).toMatchObject({ code: "PUBLISH_FAILED", name: "PublishFailedError" });
      expect((error as Error).cause).toBeInstanceOf(Error);
    }
  });

  test("rejects with NOT_CONNECTED after close()", async ({ nats }) => {
    const b = await HeraldBackend.connect({ servers: nats.url });
    await b.close();
    expect(b.connection.isClosed()).toBe(true);
    await expect(b.publish("1", "x", { ack: false })).rejects.toMatchObject({ code: "NOT_CONNECTED" });
    await expect(b.publish("1", "x")).rejects.toMatchObject({ code: "NOT_CONNECTED" });
    await expect(b.publishStored("1", "x")).rejects.toMatchObject({ code: "NOT_CONNECTED" });
  });
});

describe("HeraldBackend", () => {
  test("fails to connect with NOT_CONNECTED naming the servers", async () => {
    const port = await freePort();
    const error = await HeraldBackend.connect({ servers: `nats://127.0.0.1:${port}`, timeout: 1000 }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "NOT_CONNECTED", name: "NotConnectedError" });
    expect((error as Error).message).toContain(`cannot reach NATS at nats://127.0.0.1:${port}: `);
  });

  test("validates its options", async ({ raw: nc }) => {
    expect(() => new HeraldBackend(nc, { prefix: "bad prefix" })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS" }),
    );
    expect(() => new HeraldBackend(nc, { prefix: "a.*" })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS" }),
    );
    await expect(HeraldBackend.connect({ servers: [] })).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
  });

  test("leaves a connection it did not open open on close()", async ({ nats, raw: nc }) => {
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
