import type { Msg, NatsConnection } from "@nats-io/nats-core";
import * as v from "valibot";
import { describe, expect } from "vitest";
import { grant, refuse, type SubscribeContext, UnsafeNameError } from "../../src/backend/index.js";
import { SubscribeReply, type SubscribeRequest } from "../../src/protocol/index.js";
import { test } from "./responder-stack.js";

// A nats-server without JetStream; `raw` plays the gateway.
test.override({ natsOptions: {} });

const request: SubscribeRequest = {
  user: "42",
  connection: "c-1",
  gateway: "gw-test",
  channel: "channel.room-7",
};

function ask(gateway: NatsConnection, payload: unknown, raw = false): Promise<Msg> {
  return gateway.request("herald.subscribe", raw ? (payload as string) : JSON.stringify(payload), {
    timeout: 2000,
  });
}

/** What the gateway does with a reply: a valid SubscribeReply, or nothing usable (a service error). */
function replyOf(msg: Msg): SubscribeReply | undefined {
  if (msg.data.length === 0) return undefined;
  const parsed = v.safeParse(SubscribeReply, msg.json());
  return parsed.success ? parsed.output : undefined;
}

describe("onSubscribe", () => {
  test("passes the channel and who asks to the handler, and sends its grant", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b, errors } = await connectBackend();
    const seen: [string, SubscribeContext][] = [];
    const until = new Date(Date.now() + 60_000);
    const responder = b.onSubscribe((channel, context) => {
      seen.push([channel, context]);
      return grant({ expiresAt: until });
    });
    expect(responder).toMatchObject({ subject: "herald.subscribe", queue: "herald-subscribe" });
    await b.flush();
    expect(replyOf(await ask(gateway, request))).toEqual({ ok: true, expiresAt: until.getTime() });
    expect(seen).toEqual([["channel.room-7", { user: "42", connection: "c-1", gateway: "gw-test" }]]);
    expect(errors).toEqual([]);
  });

  test("sends a refusal, a grant without expiry, and one with presence", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b } = await connectBackend();
    b.onSubscribe(async (channel) =>
      channel === "channel.open"
        ? grant()
        : channel === "channel.lounge"
          ? grant({ presence: true })
          : refuse("not_a_member", "members only", { temporary: false }),
    );
    await b.flush();
    expect(replyOf(await ask(gateway, { ...request, channel: "channel.open" }))).toEqual({ ok: true });
    expect(replyOf(await ask(gateway, { ...request, channel: "channel.lounge" }))).toEqual({
      ok: true,
      presence: true,
    });
    expect(replyOf(await ask(gateway, request))).toEqual({
      ok: false,
      error: { code: "not_a_member", message: "members only" },
    });
  });

  test("answers a request that breaks the schema with a 400 service error, without calling the handler", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b, errors } = await connectBackend();
    let calls = 0;
    b.onSubscribe(() => {
      calls++;
      return grant();
    });
    await b.flush();
    for (const bad of [
      "not json",
      JSON.stringify({ ...request, channel: "channel.a.b" }),
      JSON.stringify({ ...request, channel: "user.42" }),
      JSON.stringify({ user: "42" }),
    ]) {
      const msg = await ask(gateway, bad, true);
      expect(msg.headers?.get("Nats-Service-Error-Code")).toBe("400");
    }
    expect(calls).toBe(0);
    expect(errors.map((e) => e.code)).toEqual(Array(4).fill("INVALID_REQUEST"));
  });

  test("answers a throwing handler with a 500 service error, and reports it", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b, errors } = await connectBackend();
    b.onSubscribe(() => {
      throw new Error("membership store down");
    });
    await b.flush();
    const msg = await ask(gateway, request);
    expect(msg.headers?.get("Nats-Service-Error-Code")).toBe("500");
    expect(errors[0]).toMatchObject({ code: "HANDLER_FAILED" });
    expect(errors[0]?.message).toMatch(/membership store down/);
  });

  test("turns a broken grant into a refusal, and what is no decision into a service error", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b, errors } = await connectBackend();
    b.onSubscribe(
      (channel) =>
        (channel === "channel.broken"
          ? { ok: true, expiresAt: "tomorrow" }
          : { allowed: true }) as unknown as ReturnType<typeof grant>,
    );
    await b.flush();
    expect(replyOf(await ask(gateway, { ...request, channel: "channel.broken" }))).toEqual({
      ok: false,
      error: { code: "invalid_decision", message: "the backend returned an invalid decision" },
    });
    const msg = await ask(gateway, request);
    expect(msg.headers?.get("Nats-Service-Error-Code")).toBe("500");
    expect(errors.map((e) => e.code)).toEqual(["INVALID_DECISION", "INVALID_DECISION"]);
  });

  test("warns about an expiresAt in seconds", async ({ connectBackend, raw: gateway }) => {
    const { backend: b, errors } = await connectBackend();
    b.onSubscribe(() => grant({ expiresAt: Math.floor(Date.now() / 1000) + 60 }));
    await b.flush();
    await ask(gateway, request);
    expect(errors[0]?.message).toMatch(/looks like seconds/);
  });

  test("stops with close(), after answering what it already has", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b } = await connectBackend();
    let release: (() => void) | undefined;
    b.onSubscribe(() => new Promise((resolve) => (release = () => resolve(grant()))));
    await b.flush();
    const answered = ask(gateway, request);
    await expect.poll(() => release !== undefined).toBe(true);
    const closing = b.close();
    release?.();
    expect(replyOf(await answered)).toEqual({ ok: true });
    await closing;
  });
});

describe("unsubscribe(user, channel)", () => {
  test("publishes the control message every gateway acts on", async ({ connectBackend, raw: gateway }) => {
    const { backend: b } = await connectBackend();
    const seen: unknown[] = [];
    const sub = gateway.subscribe("herald.control.>", {
      callback: (_err, msg) => {
        seen.push([msg.subject, msg.json()]);
      },
    });
    await gateway.flush();
    try {
      await b.unsubscribe("42", "channel.room-7");
      await expect
        .poll(() => seen)
        .toEqual([["herald.control.unsubscribe", { user: "42", channel: "channel.room-7" }]]);
    } finally {
      sub.unsubscribe();
    }
  });

  test("refuses an unsafe user or a channel that is not channel.<name>, sending nothing", async ({
    connectBackend,
  }) => {
    const { backend: b } = await connectBackend();
    await expect(b.unsubscribe("4.*", "channel.room")).rejects.toBeInstanceOf(UnsafeNameError);
    for (const channel of ["room", "user.42", "channel.a.b", "channel.>", ""]) {
      await expect(b.unsubscribe("42", channel)).rejects.toMatchObject({ code: "INVALID_CHANNEL" });
    }
  });
});
