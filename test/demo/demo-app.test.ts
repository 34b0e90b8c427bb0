import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RunningDemoApp, startDemoApp } from "../../src/demo/demo-app.js";
import { TokenStore } from "../../src/demo/token-store.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { type NatsServer, startNats, startTestGateway, TestClient } from "../../src/testing/index.js";

let nats: NatsServer;
let gateway: RunningGateway;
let demo: RunningDemoApp;
const clients: TestClient[] = [];
const reported: string[] = [];

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  gateway = await startTestGateway(nats, { history: true, historyStorage: "memory", presence: true });
  demo = await startDemoApp({
    nats: nats.url,
    gatewayUrl: gateway.url,
    port: 0,
    clientBundle: "/nonexistent/herald-client.min.js",
    onError: (message) => reported.push(message),
  });
});

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

afterAll(async () => {
  await demo?.close();
  await gateway?.close();
  await nats?.stop();
});

function post(path: string, body: unknown, type = "application/json"): Promise<Response> {
  return fetch(new URL(path, demo.url), {
    method: "POST",
    headers: { "content-type": type },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function login(user: string): Promise<{ token: string; user: string; expiresAt: number }> {
  const res = await post("/api/login", { user });
  expect(res.status).toBe(200);
  return (await res.json()) as { token: string; user: string; expiresAt: number };
}

async function ready(token: string): Promise<TestClient> {
  const client = await TestClient.ready(gateway.url, token);
  clients.push(client);
  return client;
}

describe("demo app: sign-in and auth", () => {
  it("issues opaque tokens, each valid for 10 minutes, that the gateway accepts as their user", async () => {
    const before = Date.now();
    const issued = await login("alice");
    expect(issued.user).toBe("alice");
    expect(issued.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Nothing in the token says whose it is.
    expect(Buffer.from(issued.token, "base64url").toString("latin1")).not.toContain("alice");
    expect(issued.expiresAt).toBeGreaterThanOrEqual(before + 600_000);
    expect(issued.expiresAt).toBeLessThanOrEqual(Date.now() + 600_000);
    expect((await login("alice")).token).not.toBe(issued.token);

    const client = await ready(issued.token);
    const frame = client.frames.find((f) => f.type === "ready");
    expect(frame).toMatchObject({
      user: "alice",
      channels: ["user.alice", "channel.lobby"],
      presence: ["channel.lobby"],
      expiresAt: issued.expiresAt,
    });
  });

  it("refuses a token it never issued with invalid_token, which closes with 4401", async () => {
    const client = await TestClient.open(gateway.url);
    clients.push(client);
    client.send({ type: "auth", token: "made-up" });
    expect(await client.next("error", 10_000)).toMatchObject({
      code: "AUTH_REFUSED",
      reason: "invalid_token",
    });
    expect((await client.waitClose(10_000)).code).toBe(4401);
  });

  it("refuses an expired token", async () => {
    const tokens = new TokenStore(50);
    const { token } = tokens.issue("bob");
    expect(tokens.verify(token)?.user).toBe("bob");
    await sleep(80);
    expect(tokens.verify(token)).toBeUndefined();
    expect(tokens.size).toBe(0);
  });

  it("answers bad sign-in requests with 4xx and a JSON error", async () => {
    const unknown = await post("/api/login", { user: "eve" });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({
      error: "invalid_request",
      message: "user: must be one of alice, bob",
    });
    const notJson = await post("/api/login", "{user:");
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ error: "invalid_json" });
    const wrongType = await post("/api/login", "user=alice", "application/x-www-form-urlencoded");
    expect(wrongType.status).toBe(415);
    const tooLarge = await post("/api/login", { user: "alice", padding: "x".repeat(20_000) });
    expect(tooLarge.status).toBe(413);
    const wrongMethod = await fetch(new URL("/api/login", demo.url));
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    const missing = await fetch(new URL("/api/nothing", demo.url));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: "not_found" });
  });
});

describe("demo app: notifications and page", () => {
  it("publishes a notification to the user's channel", async () => {
    const alice = await ready((await login("alice")).token);
    const res = await post("/api/notify", { user: "alice", message: "  tea is ready  " });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, subject: "herald.user.alice" });
    const [message] = await alice.waitForMessages(1, 10_000);
    expect(message).toMatchObject({ channel: "user.alice", data: "tea is ready" });
  });

  it("answers bad notifications with 400 and says what is wrong", async () => {
    const cases: [unknown, string][] = [
      [{ user: "alice", message: "   " }, "message: must not be empty"],
      [{ user: "alice", message: "x".repeat(1001) }, "message: must be at most 1000 characters"],
      [{ user: "alice", message: 42 }, "message: must be a string"],
      [{ user: "herald.>", message: "hi" }, "user: must be one of alice, bob"],
      [{ message: "hi" }, "user: is required"],
      ['"just text"', "the body must be a JSON object"],
    ];
    for (const [body, message] of cases) {
      const res = await post("/api/notify", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.json()).toEqual({ error: "invalid_request", message });
    }
  });

  it("serves the page with a strict content security policy, and nothing outside its file list", async () => {
    const page = await fetch(demo.url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(await page.text()).toContain('<script src="/herald-client.min.js" defer></script>');
    const config = await fetch(new URL("/api/config", demo.url));
    expect(await config.json()).toEqual({
      gatewayUrl: gateway.url,
      users: ["alice", "bob"],
      publishFlags: "",
    });
    for (const path of ["/app.js", "/style.css"]) {
      expect((await fetch(new URL(path, demo.url))).status, path).toBe(200);
    }
    for (const path of ["/../package.json", "/%2e%2e/package.json", "/demo-app.ts", "/public/app.js"]) {
      expect((await fetch(new URL(path, demo.url))).status, path).toBe(404);
    }
    const bundle = await fetch(new URL("/herald-client.min.js", demo.url));
    expect(bundle.status).toBe(404);
    expect(await bundle.text()).toContain("npm run build");
    expect(reported).toEqual([]);
  });
});

describe("demo app: server time and sign out everywhere", () => {
  it("answers the page's time call with the server's time and the caller", async () => {
    const client = await ready((await login("alice")).token);
    const before = Date.now();
    client.send({ type: "rpc", id: 1, method: "time" });
    const result = await client.next("rpc_result");
    expect(result).toMatchObject({ id: 1, data: { user: "alice" } });
    const now = (result.data as { now: number }).now;
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  it("revokes every token of the user and closes their connections; others stay", async () => {
    const first = await login("bob");
    const second = await login("bob");
    const bob = [await ready(first.token), await ready(second.token)];
    const alice = await ready((await login("alice")).token);
    const res = await post("/api/sign-out-everywhere", { user: "bob" });
    expect(res.status).toBe(200);
    // the two tokens above, and any this file issued to bob before
    const body = (await res.json()) as { ok: boolean; revoked: number };
    expect(body.ok).toBe(true);
    expect(body.revoked).toBeGreaterThanOrEqual(2);
    for (const c of bob) {
      expect(await c.next("error")).toMatchObject({ code: "DISCONNECTED" });
      expect((await c.waitClose()).code).toBe(4430);
    }
    // the old tokens are dead: a connect with one is refused
    const again = await TestClient.open(gateway.url);
    clients.push(again);
    again.send({ type: "auth", token: first.token });
    expect(await again.next("error")).toMatchObject({ code: "AUTH_REFUSED", reason: "invalid_token" });
    alice.send({ type: "ping" });
    await alice.next("pong");
    expect(alice.closed).toBeUndefined();
    expect(await ready((await login("bob")).token)).toBeDefined();
  });

  it("answers a bad sign-out request with 400", async () => {
    const res = await post("/api/sign-out-everywhere", { user: "mallory.*" });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: expect.any(String) });
  });
});
