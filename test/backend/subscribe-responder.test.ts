import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import * as v from "valibot";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  grant,
  HeraldBackend,
  type HeraldBackendError,
  refuse,
  type SubscribeContext,
  UnsafeNameError,
} from "../../src/backend/index.js";
import { SubscribeReply, type SubscribeRequest } from "../../src/protocol/index.js";
import { type NatsServer, startNats } from "../../src/testing/index.js";

let nats: NatsServer;
/** The connection playing the gateway: raw requests on `herald.subscribe`, as the gateway sends them. */
let gateway: NatsConnection;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  nats = await startNats();
  gateway = await connect({ servers: nats.url });
});
afterAll(async () => {
  await gateway?.close();
  await nats?.stop();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function backend(): Promise<{ backend: HeraldBackend; errors: HeraldBackendError[] }> {
  const errors: HeraldBackendError[] = [];
  const b = await HeraldBackend.connect({ servers: nats.url, onError: (error) => errors.push(error) });
  cleanups.push(() => b.close());
  return { backend: b, errors };
}

const request: SubscribeRequest = {
  user: "42",
  connection: "c-1",
  gateway: "gw-test",
  channel: "channel.room-7",
};

function ask(payload: unknown, raw = false): Promise<Msg> {
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
  it("passes the channel and who asks to the handler, and sends its grant", async () => {
    const { backend: b, errors } = await backend();
    const seen: [string, SubscribeContext][] = [];
    const until = new Date(Date.now() + 60_000);
    const responder = b.onSubscribe((channel, context) => {
      seen.push([channel, context]);
      return grant({ expiresAt: until });
    });
    expect(responder).toMatchObject({ subject: "herald.subscribe", queue: "herald-subscribe" });
    await b.flush();
    expect(replyOf(await ask(request))).toEqual({ ok: true, expiresAt: until.getTime() });
    expect(seen).toEqual([["channel.room-7", { user: "42", connection: "c-1", gateway: "gw-test" }]]);
    expect(errors).toEqual([]);
  });

  it("sends a refusal, a grant without expiry, and one with presence", async () => {
    const { backend: b } = await backend();
    b.onSubscribe(async (channel) =>
      channel === "channel.open"
        ? grant()
        : channel === "channel.lounge"
          ? grant({ presence: true })
          : refuse("not_a_member", "members only", { temporary: false }),
    );
    await b.flush();
    expect(replyOf(await ask({ ...request, channel: "channel.open" }))).toEqual({ ok: true });
    expect(replyOf(await ask({ ...request, channel: "channel.lounge" }))).toEqual({
      ok: true,
      presence: true,
    });
    expect(replyOf(await ask(request))).toEqual({
      ok: false,
      error: { code: "not_a_member", message: "members only" },
    });
  });

  it("answers a request that breaks the schema with a 400 service error, without calling the handler", async () => {
    const { backend: b, errors } = await backend();
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
      const msg = await ask(bad, true);
      expect(msg.headers?.get("Nats-Service-Error-Code")).toBe("400");
    }
    expect(calls).toBe(0);
    expect(errors.map((e) => e.code)).toEqual(Array(4).fill("INVALID_REQUEST"));
  });

  it("answers a throwing handler with a 500 service error, and reports it", async () => {
    const { backend: b, errors } = await backend();
    b.onSubscribe(() => {
      throw new Error("membership store down");
    });
    await b.flush();
    const msg = await ask(request);
    expect(msg.headers?.get("Nats-Service-Error-Code")).toBe("500");
    expect(errors[0]).toMatchObject({ code: "HANDLER_FAILED" });
    expect(errors[0]?.message).toMatch(/membership store down/);
  });

  it("turns a broken grant into a refusal, and what is no decision into a service error", async () => {
    const { backend: b, errors } = await backend();
    b.onSubscribe(
      (channel) =>
        (channel === "channel.broken"
          ? { ok: true, expiresAt: "tomorrow" }
          : { allowed: true }) as unknown as ReturnType<typeof grant>,
    );
    await b.flush();
    expect(replyOf(await ask({ ...request, channel: "channel.broken" }))).toEqual({
      ok: false,
      error: { code: "invalid_decision", message: "the backend returned an invalid decision" },
    });
    const msg = await ask(request);
    expect(msg.headers?.get("Nats-Service-Error-Code")).toBe("500");
    expect(errors.map((e) => e.code)).toEqual(["INVALID_DECISION", "INVALID_DECISION"]);
  });

  it("warns about an expiresAt in seconds", async () => {
    const { backend: b, errors } = await backend();
    b.onSubscribe(() => grant({ expiresAt: Math.floor(Date.now() / 1000) + 60 }));
    await b.flush();
    await ask(request);
    expect(errors[0]?.message).toMatch(/looks like seconds/);
  });

  it("stops with close(), after answering what it already has", async () => {
    const { backend: b } = await backend();
    let release: (() => void) | undefined;
    b.onSubscribe(() => new Promise((resolve) => (release = () => resolve(grant()))));
    await b.flush();
    const answered = ask(request);
    await expect.poll(() => release !== undefined).toBe(true);
    const closing = b.close();
    release?.();
    expect(replyOf(await answered)).toEqual({ ok: true });
    await closing;
  });
});

describe("unsubscribe(user, channel)", () => {
  it("publishes the control message every gateway acts on", async () => {
    const { backend: b } = await backend();
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

  it("refuses an unsafe user or a channel that is not channel.<name>, sending nothing", async () => {
    const { backend: b } = await backend();
    await expect(b.unsubscribe("4.*", "channel.room")).rejects.toBeInstanceOf(UnsafeNameError);
    for (const channel of ["room", "user.42", "channel.a.b", "channel.>", ""]) {
      await expect(b.unsubscribe("42", channel)).rejects.toMatchObject({ code: "INVALID_CHANNEL" });
    }
  });
});
