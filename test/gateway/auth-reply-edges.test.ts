import { Writable } from "node:stream";
import { jetstream } from "@nats-io/jetstream";
import { headers, type Msg } from "@nats-io/nats-core";
import { pino } from "pino";
import { describe, expect } from "vitest";
import { CloseCode } from "../../src/protocol/index.js";
import type { RawBackend, TestClient } from "../../src/testing/index.js";
import { type SocketOptions, rawTest as test } from "../fixtures.js";

const json = (body: unknown) => (msg: Msg) => msg.respond(JSON.stringify(body));

/** Opens a socket and sends `auth` for `token`, which the backend answers with `answer`. */
async function authWith(
  { backend, socket }: { backend: RawBackend; socket: (options?: SocketOptions) => Promise<TestClient> },
  token: string,
  answer: (msg: Msg) => void,
  extra = {},
): Promise<TestClient> {
  backend.replies.set(token, answer);
  const client = await socket();
  client.send({ type: "auth", token, ...extra });
  return client;
}

/**
 * The auth reply values a backend in another language easily gets slightly wrong (a nil slice, an
 * expiry in seconds or in the past, a fraction, "cannot decide now"), and what each one does to the
 * client, on a real gateway with history on and a raw NATS responder that answers exactly the bytes
 * given.
 */
describe("auth reply edges", () => {
  const logLines: { msg: string; expiresAt?: number }[] = [];
  const logSink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
  test.override({
    gatewayOptions: { historyStorage: "memory", refreshBefore: 60_000 },
    gatewayHooks: { logger: pino({ level: "warn" }, logSink) },
  });

  /** The only frame before the close is the error: no `ready`, no replayed message. */
  async function expectOnlyError(client: TestClient, code: string, closeCode: number) {
    const close = await client.waitClose();
    expect(close.code).toBe(closeCode);
    expect(client.frames).toHaveLength(1);
    expect(client.frames[0]).toMatchObject({ type: "error", code });
    return client.frames[0]!;
  }

  test('accepts "channels": null as no shared channel', async ({ backend, socket }) => {
    const client = await authWith(
      { backend, socket },
      "nil-slice",
      json({ ok: true, user: "gopher", channels: null }),
    );
    expect(await client.next()).toMatchObject({ type: "ready", user: "gopher", channels: ["user.gopher"] });
  });

  test('accepts "expiresAt": null as no expiry', async ({ backend, socket }) => {
    const client = await authWith(
      { backend, socket },
      "nil-expiry",
      json({ ok: true, user: "gopher", expiresAt: null }),
    );
    const ready = await client.next();
    expect(ready).toMatchObject({ type: "ready", user: "gopher" });
    expect(ready).not.toHaveProperty("expiresAt");
  });

  test("cuts a fractional expiresAt to whole milliseconds", async ({ backend, socket }) => {
    const expiresAt = Date.now() + 3_600_000;
    const client = await authWith(
      { backend, socket },
      "fraction",
      json({ ok: true, user: "gopher", expiresAt: expiresAt + 0.75 }),
    );
    expect(await client.next()).toMatchObject({ type: "ready", expiresAt });
  });

  test.for<[string, () => number]>([
    ["an hour in the past", () => Date.now() - 3_600_000],
    ["now", () => Date.now()],
  ])(
    "refuses an expiresAt %s before ready and before any replay",
    async ([name, expiresAt], { backend, socket }) => {
      // a stored message for "victim", so a replay before the refusal would show
      await jetstream(backend.connection).publish("herald.user.victim", JSON.stringify({ stored: true }));
      const client = await authWith(
        { backend, socket },
        `past-${name}`,
        (msg) => msg.respond(JSON.stringify({ ok: true, user: "victim", expiresAt: expiresAt() })),
        { recover: { epoch: "any", since: { "user.victim": 0 } } },
      );
      const error = await expectOnlyError(client, "AUTH_REFUSED", CloseCode.AuthRefused);
      expect(error.reason).toBe("token_expired");
      expect(logLines.some((l) => /not in the future/.test(l.msg))).toBe(true);
    },
  );

  test.for<[string, () => number]>([
    ["in seconds", () => Math.floor(Date.now() / 1000) + 3600],
    ["zero", () => 0],
    ["1.5", () => 1.5],
    ["negative", () => -1],
  ])(
    "refuses an expiresAt %s as token_expired, logging that it looks like seconds",
    async ([name, value], { backend, socket }) => {
      const expiresAt = value();
      const client = await authWith(
        { backend, socket },
        `seconds-${name}`,
        json({ ok: true, user: "victim", expiresAt }),
      );
      const error = await expectOnlyError(client, "AUTH_REFUSED", CloseCode.AuthRefused);
      expect(error.reason).toBe("token_expired");
      const logged = logLines.find(
        (l) => /looks like seconds/.test(l.msg) && l.expiresAt === Math.trunc(expiresAt),
      );
      expect(logged).toBeDefined();
    },
  );

  test("still treats an expiresAt past the range of dates as a broken reply", async ({ backend, socket }) => {
    const client = await authWith(
      { backend, socket },
      "far",
      json({ ok: true, user: "victim", expiresAt: 1e300 }),
    );
    await expectOnlyError(client, "BACKEND_INVALID_REPLY", CloseCode.TryAgainLater);
  });

  test('answers a refusal with "temporary": true as BACKEND_UNAVAILABLE (1013, retry)', async ({
    backend,
    socket,
  }) => {
    const client = await authWith(
      { backend, socket },
      "db-down",
      json({ ok: false, error: { code: "db_down", message: "token store unavailable", temporary: true } }),
    );
    const error = await expectOnlyError(client, "BACKEND_UNAVAILABLE", CloseCode.TryAgainLater);
    expect(error).not.toHaveProperty("reason");
  });

  test('keeps "temporary": false a plain refusal (4401)', async ({ backend, socket }) => {
    const client = await authWith(
      { backend, socket },
      "not-temporary",
      json({ ok: false, error: { code: "invalid_token", message: "no", temporary: false } }),
    );
    const error = await expectOnlyError(client, "AUTH_REFUSED", CloseCode.AuthRefused);
    expect(error.reason).toBe("invalid_token");
  });

  test("answers a Nats-Service-Error reply as BACKEND_UNAVAILABLE (1013, retry)", async ({
    backend,
    socket,
  }) => {
    const client = await authWith({ backend, socket }, "service-error", (msg) => {
      const h = headers();
      h.set("Nats-Service-Error", "token store unavailable");
      h.set("Nats-Service-Error-Code", "500");
      msg.respond(undefined, { headers: h });
    });
    await expectOnlyError(client, "BACKEND_UNAVAILABLE", CloseCode.TryAgainLater);
  });

  describe("on refresh", () => {
    /** A connection whose expiry is within --refresh-before, so token_expiring follows ready at once. */
    async function expiringSoon(
      fixtures: { backend: RawBackend; socket: (options?: SocketOptions) => Promise<TestClient> },
      user: string,
    ): Promise<TestClient> {
      const client = await authWith(fixtures, `${user}-first`, (msg) =>
        msg.respond(JSON.stringify({ ok: true, user, expiresAt: Date.now() + 30_000 })),
      );
      expect(await client.next()).toMatchObject({ type: "ready", user });
      await client.next("token_expiring");
      return client;
    }

    test("refuses a refreshed token whose expiresAt has passed (REFRESH_REFUSED, token_expired, 4401)", async ({
      backend,
      socket,
    }) => {
      const client = await expiringSoon({ backend, socket }, "refresher");
      backend.replies.set("refresh:refresher-stale", (msg) =>
        msg.respond(JSON.stringify({ ok: true, user: "refresher", expiresAt: Date.now() - 1000 })),
      );
      client.send({ type: "refresh", token: "refresher-stale" });
      const error = await client.next("error");
      expect(error).toMatchObject({ code: "REFRESH_REFUSED", reason: "token_expired" });
      expect((await client.waitClose()).code).toBe(CloseCode.AuthRefused);
    });

    test("refuses a refreshed expiresAt in seconds the same way", async ({ backend, socket }) => {
      const client = await expiringSoon({ backend, socket }, "second-hand");
      backend.replies.set("refresh:second-hand-seconds", (msg) =>
        msg.respond(
          JSON.stringify({ ok: true, user: "second-hand", expiresAt: Math.floor(Date.now() / 1000) + 600 }),
        ),
      );
      client.send({ type: "refresh", token: "second-hand-seconds" });
      expect(await client.next("error")).toMatchObject({ code: "REFRESH_REFUSED", reason: "token_expired" });
      expect((await client.waitClose()).code).toBe(CloseCode.AuthRefused);
    });

    test("keeps the connection after a temporary refusal, so a later refresh can succeed", async ({
      backend,
      socket,
    }) => {
      const client = await expiringSoon({ backend, socket }, "patient");
      backend.replies.set(
        "refresh:patient-busy",
        json({ ok: false, error: { code: "db_down", message: "try later", temporary: true } }),
      );
      backend.replies.set("refresh:patient-fine", (msg) =>
        msg.respond(JSON.stringify({ ok: true, user: "patient", expiresAt: Date.now() + 3_600_000 })),
      );
      client.send({ type: "refresh", token: "patient-busy" });
      // the gateway has taken the temporary refusal (it logs it) before the next refresh goes out
      await expect.poll(() => logLines.some((l) => /refresh not answered/.test(l.msg))).toBe(true);
      client.send({ type: "refresh", token: "patient-fine" });
      expect(await client.next("refreshed")).toMatchObject({ type: "refreshed" });
      expect(client.closed).toBeUndefined();
      expect(client.frames.some((f) => f.type === "error")).toBe(false);
    });
  });
});
