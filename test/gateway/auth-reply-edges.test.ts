import { Writable } from "node:stream";
import { jetstream } from "@nats-io/jetstream";
import { headers, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadGatewayConfig } from "../../src/gateway/config.js";
import { type RunningGateway, startGateway } from "../../src/gateway/index.js";
import { CloseCode } from "../../src/protocol/index.js";
import { type NatsServer, startNats, TestClient } from "../../src/testing/index.js";

/**
 * The auth reply values a backend in another language easily gets slightly wrong (a nil slice, an
 * expiry in seconds or in the past, a fraction, "cannot decide now"), and what each one does to the
 * client, on a real gateway with history on and a raw NATS responder that answers exactly the bytes
 * given.
 */
describe("auth reply edges", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let gateway: RunningGateway;
  const clients: TestClient[] = [];
  const logLines: { msg: string; expiresAt?: number }[] = [];
  /** token -> how the backend answers it, decided when the request arrives */
  const answers = new Map<string, (msg: Msg) => void>();
  const json = (body: unknown) => (msg: Msg) => msg.respond(JSON.stringify(body));

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    nc = await connect({ servers: nats.url });
    nc.subscribe("herald.auth", {
      callback: (_err, msg) => {
        const { token } = msg.json<{ token: string }>();
        const answer = answers.get(token) ?? json({ ok: true, user: token });
        answer(msg);
      },
    });
    await nc.flush();
    const logSink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n").filter(Boolean)) logLines.push(JSON.parse(line));
        done();
      },
    });
    const config = loadGatewayConfig({
      overrides: {
        host: "127.0.0.1",
        port: 0,
        nats: [nats.url],
        history: true,
        historyStorage: "memory",
        refreshBefore: 60_000,
      },
    });
    gateway = await startGateway(config, { processMetrics: false, logger: pino({ level: "warn" }, logSink) });
    // a stored message for "victim", so a replay before the refusal would show
    await jetstream(nc).publish("herald.user.victim", JSON.stringify({ stored: true }));
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await gateway?.close();
    await nc?.close();
    await nats?.stop();
  });

  async function authWith(token: string, answer: (msg: Msg) => void, extra = {}): Promise<TestClient> {
    answers.set(token, answer);
    const client = await TestClient.open(gateway.url);
    clients.push(client);
    client.send({ type: "auth", token, ...extra });
    return client;
  }

  /** The only frame before the close is the error: no `ready`, no replayed message. */
  async function expectOnlyError(client: TestClient, code: string, closeCode: number) {
    const close = await client.waitClose();
    expect(close.code).toBe(closeCode);
    expect(client.frames).toHaveLength(1);
    expect(client.frames[0]).toMatchObject({ type: "error", code });
    return client.frames[0]!;
  }

  it('accepts "channels": null as no shared channel', async () => {
    const client = await authWith("nil-slice", json({ ok: true, user: "gopher", channels: null }));
    expect(await client.next()).toMatchObject({ type: "ready", user: "gopher", channels: ["user.gopher"] });
  });

  it('accepts "expiresAt": null as no expiry', async () => {
    const client = await authWith("nil-expiry", json({ ok: true, user: "gopher", expiresAt: null }));
    const ready = await client.next();
    expect(ready).toMatchObject({ type: "ready", user: "gopher" });
    expect(ready).not.toHaveProperty("expiresAt");
  });

  it("cuts a fractional expiresAt to whole milliseconds", async () => {
    const expiresAt = Date.now() + 3_600_000;
    const client = await authWith(
      "fraction",
      json({ ok: true, user: "gopher", expiresAt: expiresAt + 0.75 }),
    );
    expect(await client.next()).toMatchObject({ type: "ready", expiresAt });
  });

  it.each([
    ["an hour in the past", () => Date.now() - 3_600_000],
    ["now", () => Date.now()],
  ])("refuses an expiresAt %s before ready and before any replay", async (_name, expiresAt) => {
    const client = await authWith(
      `past-${_name}`,
      (msg) => msg.respond(JSON.stringify({ ok: true, user: "victim", expiresAt: expiresAt() })),
      { recover: { epoch: "any", since: { "user.victim": 0 } } },
    );
    const error = await expectOnlyError(client, "AUTH_REFUSED", CloseCode.AuthRefused);
    expect(error.reason).toBe("token_expired");
    expect(logLines.some((l) => /not in the future/.test(l.msg))).toBe(true);
  });

  it.each([
    ["in seconds", () => Math.floor(Date.now() / 1000) + 3600],
    ["zero", () => 0],
    ["1.5", () => 1.5],
    ["negative", () => -1],
  ])("refuses an expiresAt %s as token_expired, logging that it looks like seconds", async (name, value) => {
    const expiresAt = value();
    const client = await authWith(`seconds-${name}`, json({ ok: true, user: "victim", expiresAt }));
    const error = await expectOnlyError(client, "AUTH_REFUSED", CloseCode.AuthRefused);
    expect(error.reason).toBe("token_expired");
    const logged = logLines.find(
      (l) => /looks like seconds/.test(l.msg) && l.expiresAt === Math.trunc(expiresAt),
    );
    expect(logged).toBeDefined();
  });

  it("still treats an expiresAt past the range of dates as a broken reply", async () => {
    const client = await authWith("far", json({ ok: true, user: "victim", expiresAt: 1e300 }));
    await expectOnlyError(client, "BACKEND_INVALID_REPLY", CloseCode.TryAgainLater);
  });

  it('answers a refusal with "temporary": true as BACKEND_UNAVAILABLE (1013, retry)', async () => {
    const client = await authWith(
      "db-down",
      json({ ok: false, error: { code: "db_down", message: "token store unavailable", temporary: true } }),
    );
    const error = await expectOnlyError(client, "BACKEND_UNAVAILABLE", CloseCode.TryAgainLater);
    expect(error).not.toHaveProperty("reason");
  });

  it('keeps "temporary": false a plain refusal (4401)', async () => {
    const client = await authWith(
      "not-temporary",
      json({ ok: false, error: { code: "invalid_token", message: "no", temporary: false } }),
    );
    const error = await expectOnlyError(client, "AUTH_REFUSED", CloseCode.AuthRefused);
    expect(error.reason).toBe("invalid_token");
  });

  it("answers a Nats-Service-Error reply as BACKEND_UNAVAILABLE (1013, retry)", async () => {
    const client = await authWith("service-error", (msg) => {
      const h = headers();
      h.set("Nats-Service-Error", "token store unavailable");
      h.set("Nats-Service-Error-Code", "500");
      msg.respond(undefined, { headers: h });
    });
    await expectOnlyError(client, "BACKEND_UNAVAILABLE", CloseCode.TryAgainLater);
  });

  describe("on refresh", () => {
    /** A connection whose expiry is within --refresh-before, so token_expiring follows ready at once. */
    async function expiringSoon(user: string): Promise<TestClient> {
      const client = await authWith(`${user}-first`, (msg) =>
        msg.respond(JSON.stringify({ ok: true, user, expiresAt: Date.now() + 30_000 })),
      );
      expect(await client.next()).toMatchObject({ type: "ready", user });
      await client.next("token_expiring");
      return client;
    }

    it("refuses a refreshed token whose expiresAt has passed (REFRESH_REFUSED, token_expired, 4401)", async () => {
      const client = await expiringSoon("refresher");
      answers.set("refresher-stale", (msg) =>
        msg.respond(JSON.stringify({ ok: true, user: "refresher", expiresAt: Date.now() - 1000 })),
      );
      client.send({ type: "refresh", token: "refresher-stale" });
      const error = await client.next("error");
      expect(error).toMatchObject({ code: "REFRESH_REFUSED", reason: "token_expired" });
      expect((await client.waitClose()).code).toBe(CloseCode.AuthRefused);
    });

    it("refuses a refreshed expiresAt in seconds the same way", async () => {
      const client = await expiringSoon("second-hand");
      answers.set("second-hand-seconds", (msg) =>
        msg.respond(
          JSON.stringify({ ok: true, user: "second-hand", expiresAt: Math.floor(Date.now() / 1000) + 600 }),
        ),
      );
      client.send({ type: "refresh", token: "second-hand-seconds" });
      expect(await client.next("error")).toMatchObject({ code: "REFRESH_REFUSED", reason: "token_expired" });
      expect((await client.waitClose()).code).toBe(CloseCode.AuthRefused);
    });

    it("keeps the connection after a temporary refusal, so a later refresh can succeed", async () => {
      const client = await expiringSoon("patient");
      answers.set(
        "patient-busy",
        json({ ok: false, error: { code: "db_down", message: "try later", temporary: true } }),
      );
      answers.set("patient-fine", (msg) =>
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
