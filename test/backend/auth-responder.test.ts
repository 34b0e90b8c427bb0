import { headers, type Msg, type NatsConnection } from "@nats-io/nats-core";
import * as v from "valibot";
import { describe, expect } from "vitest";
import { type AuthContext, accept, refuse } from "../../src/backend/index.js";
import { AuthReply, type AuthRequest } from "../../src/protocol/index.js";
import { test } from "./responder-stack.js";

// A nats-server without JetStream; `raw` plays the gateway.
test.override({ natsOptions: {} });

function authRequest(overrides: Partial<AuthRequest> = {}): AuthRequest {
  return {
    kind: "connect",
    token: "secret-token",
    connection: "c-1",
    gateway: "gw-test",
    remoteAddress: "203.0.113.7",
    headers: { origin: "https://app.example", "user-agent": "test" },
    ...overrides,
  };
}

function ask(gateway: NatsConnection, payload: unknown, raw = false): Promise<Msg> {
  const body = raw ? (payload as string) : JSON.stringify(payload);
  return gateway.request("herald.auth", body, { timeout: 2000 });
}

/** What the gateway does with a reply: a valid AuthReply, or nothing usable. */
function replyOf(msg: Msg): AuthReply | undefined {
  if (msg.data.length === 0) return undefined;
  const parsed = v.safeParse(AuthReply, msg.json());
  return parsed.success ? parsed.output : undefined;
}

describe("serveAuth", () => {
  test("passes token and context to the handler and sends its acceptance", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b, errors } = await connectBackend();
    const seen: { token: string; context: AuthContext }[] = [];
    const expiry = new Date(Date.now() + 60_000);
    b.serveAuth(async (token, context) => {
      seen.push({ token, context });
      return accept({ user: "42", channels: ["news", "team-7"], expiresAt: expiry });
    });
    await b.flush();

    const reply = replyOf(await ask(gateway, authRequest()));
    expect(reply).toEqual({
      ok: true,
      user: "42",
      channels: ["news", "team-7"],
      expiresAt: expiry.getTime(),
    });
    expect(seen).toEqual([
      {
        token: "secret-token",
        context: {
          kind: "connect",
          connection: "c-1",
          gateway: "gw-test",
          remoteAddress: "203.0.113.7",
          headers: { origin: "https://app.example", "user-agent": "test" },
        },
      },
    ]);
    expect(errors).toEqual([]);
  });

  test("sends a refusal with the handler's code and message", async ({ connectBackend, raw: gateway }) => {
    const { backend: b } = await connectBackend();
    b.serveAuth((token) => (token === "good" ? accept({ user: "1" }) : refuse("bad_token", "token revoked")));
    await b.flush();

    expect(replyOf(await ask(gateway, authRequest({ token: "nope" })))).toEqual({
      ok: false,
      error: { code: "bad_token", message: "token revoked" },
    });
    expect(replyOf(await ask(gateway, authRequest({ token: "good" })))).toEqual({ ok: true, user: "1" });
  });

  test("sends a temporary refusal, which the gateway answers with retry later", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b } = await connectBackend();
    b.serveAuth(() => refuse("db_down", "token store unavailable", { temporary: true }));
    await b.flush();
    expect(replyOf(await ask(gateway, authRequest()))).toEqual({
      ok: false,
      error: { code: "db_down", message: "token store unavailable", temporary: true },
    });
  });

  test("reports an expiresAt that looks like seconds, and sends it for the gateway to refuse", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b, errors } = await connectBackend();
    const seconds = Math.floor(Date.now() / 1000) + 3600;
    b.serveAuth(() => accept({ user: "1", expiresAt: seconds }));
    await b.flush();
    expect(replyOf(await ask(gateway, authRequest()))).toEqual({ ok: true, user: "1", expiresAt: seconds });
    expect(errors.map((e) => e.code)).toEqual(["INVALID_DECISION"]);
    expect(errors[0]?.message).toMatch(/looks like seconds/);
  });

  test("gives a refresh request's user to the handler", async ({ connectBackend, raw: gateway }) => {
    const { backend: b } = await connectBackend();
    const kinds: [string, string | undefined][] = [];
    b.serveAuth((_token, context) => {
      kinds.push([context.kind, context.user]);
      return accept({ user: context.user ?? "new" });
    });
    await b.flush();
    expect(replyOf(await ask(gateway, authRequest({ kind: "refresh", user: "u-9" })))).toEqual({
      ok: true,
      user: "u-9",
    });
    expect(kinds).toEqual([["refresh", "u-9"]]);
  });

  test.for(["1.*", "a b", "", ">", "x\r\nSUB >", "a".repeat(129)])(
    "turns an acceptance of the unsafe user id %j into an invalid_user refusal",
    async (user, { connectBackend, raw: gateway }) => {
      const { backend: b, errors } = await connectBackend();
      b.serveAuth(() => accept({ user }));
      await b.flush();

      const reply = replyOf(await ask(gateway, authRequest()));
      expect(reply).toMatchObject({ ok: false, error: { code: "invalid_user" } });
      expect(errors.map((e) => e.code)).toEqual(["INVALID_DECISION"]);
      expect(errors[0]?.message).not.toContain("secret-token");
    },
  );

  test("refuses an acceptance with an unsafe channel name instead of granting it", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b, errors } = await connectBackend();
    b.serveAuth(() => accept({ user: "1", channels: ["ok", "all.>"] }));
    await b.flush();
    expect(replyOf(await ask(gateway, authRequest()))).toMatchObject({
      ok: false,
      error: { code: "invalid_decision" },
    });
    expect(errors.map((e) => e.code)).toEqual(["INVALID_DECISION"]);
  });

  test("cuts refusal codes and messages to the wire limits", async ({ connectBackend, raw: gateway }) => {
    const { backend: b } = await connectBackend();
    b.serveAuth(() => refuse("c".repeat(100), "m".repeat(1000)));
    await b.flush();
    const reply = replyOf(await ask(gateway, authRequest()));
    expect(reply).toEqual({ ok: false, error: { code: "c".repeat(64), message: "m".repeat(512) } });
  });

  test("answers a throwing handler with a 500 service error the gateway cannot mistake for a reply", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b, errors } = await connectBackend();
    const failure = new Error("database down");
    b.serveAuth(async () => {
      throw failure;
    });
    await b.flush();

    const msg = await ask(gateway, authRequest());
    expect(msg.data.length).toBe(0);
    expect(msg.headers?.get("Nats-Service-Error-Code")).toBe("500");
    expect(msg.headers?.get("Nats-Service-Error")).toBe("auth handler failed");
    expect(replyOf(msg)).toBeUndefined();
    expect(errors.map((e) => e.code)).toEqual(["HANDLER_FAILED"]);
    expect(errors[0]?.cause).toBe(failure);
  });

  test("answers a handler returning something that is not a decision with a 500 service error", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b, errors } = await connectBackend();
    b.serveAuth(() => ({ ok: "yes" }) as never);
    await b.flush();
    const msg = await ask(gateway, authRequest());
    expect(msg.headers?.get("Nats-Service-Error-Code")).toBe("500");
    expect(replyOf(msg)).toBeUndefined();
    expect(errors.map((e) => e.code)).toEqual(["INVALID_DECISION"]);
  });

  test("answers malformed requests with 400 and keeps serving", async ({ connectBackend, raw: gateway }) => {
    const { backend: b, errors } = await connectBackend();
    let calls = 0;
    b.serveAuth(() => {
      calls++;
      return accept({ user: "1" });
    });
    await b.flush();

    const malformed: [unknown, boolean][] = [
      ["{not json", true],
      ["", true],
      [null, false],
      [[1, 2], false],
      [{ ...authRequest(), token: 7 }, false],
      [{ ...authRequest(), kind: "x\r\nSUB >" }, false],
      [{ kind: "connect" }, false],
      [{ ...authRequest(), headers: { origin: 5 } }, false],
    ];
    for (const [payload, raw] of malformed) {
      const msg = await ask(gateway, payload, raw);
      expect(msg.data.length).toBe(0);
      expect(msg.headers?.get("Nats-Service-Error-Code")).toBe("400");
      expect(msg.headers?.get("Nats-Service-Error")).toMatch(/^invalid auth request: /);
    }
    expect(calls).toBe(0);
    expect(errors.map((e) => e.code)).toEqual(malformed.map(() => "INVALID_REQUEST"));
    expect(replyOf(await ask(gateway, authRequest()))).toEqual({ ok: true, user: "1" });
  });

  test("ignores auth messages published without a reply subject", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b, errors } = await connectBackend();
    b.serveAuth(() => accept({ user: "1" }));
    await b.flush();
    const h = headers();
    h.set("x", "y");
    gateway.publish("herald.auth", JSON.stringify(authRequest()), { headers: h });
    await gateway.flush();
    await expect.poll(() => errors.map((e) => e.code), { timeout: 5000 }).toEqual(["INVALID_REQUEST"]);
    expect(replyOf(await ask(gateway, authRequest()))).toEqual({ ok: true, user: "1" });
  });

  test("shares requests between instances in the same queue group", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const first = await connectBackend();
    const second = await connectBackend();
    first.backend.serveAuth(() => accept({ user: "first" }));
    second.backend.serveAuth(() => accept({ user: "second" }));
    await Promise.all([first.backend.flush(), second.backend.flush()]);

    const replies = await Promise.all(
      Array.from({ length: 60 }, (_, i) => ask(gateway, authRequest({ connection: `c-${i}` })).then(replyOf)),
    );
    const counts = { first: 0, second: 0 };
    for (const reply of replies) {
      expect(reply?.ok).toBe(true);
      if (reply?.ok) counts[reply.user as "first" | "second"]++;
    }
    // Each request answered exactly once, and both instances took part.
    expect(counts.first + counts.second).toBe(60);
    expect(counts.first).toBeGreaterThan(0);
    expect(counts.second).toBeGreaterThan(0);
  });

  test("stop() answers requests already received, then takes no more", async ({
    connectBackend,
    raw: gateway,
  }) => {
    const { backend: b } = await connectBackend();
    let release: () => void = () => {};
    let entered: () => void = () => {};
    const handlerEntered = new Promise<void>((r) => {
      entered = r;
    });
    const responder = b.serveAuth(async () => {
      entered();
      await new Promise<void>((r) => {
        release = r;
      });
      return accept({ user: "late" });
    });
    await b.flush();

    const pending = ask(gateway, authRequest());
    await handlerEntered;
    let stopped = false;
    const stopping = responder.stop().then(() => {
      stopped = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(replyOf(await pending)).toEqual({ ok: true, user: "late" });
    await expect(ask(gateway, authRequest())).rejects.toThrow(/no responders/i);
  });
});
