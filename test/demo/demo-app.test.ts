import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect } from "vitest";
import { type RunningDemoApp, startDemoApp } from "../../src/demo/demo-app.js";
import { TokenStore } from "../../src/demo/token-store.js";
import type { TestClient } from "../../src/testing/index.js";
import { stackTest } from "../fixtures.js";

const reported: string[] = [];

/**
 * The demo app plays the backend: it signs users in and answers the gateway's auth requests. It
 * shows the page the gateway's URL, so it starts after the gateway: each test names `demo`.
 */
const test = stackTest.extend<{ demo: RunningDemoApp; authResponder: undefined }>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from its first parameter
  authResponder: async ({}, use) => use(undefined),
  demo: async ({ nats, gateway }, use) => {
    const demo = await startDemoApp({
      nats: nats.url,
      gatewayUrl: gateway.url,
      port: 0,
      clientBundle: "/nonexistent/herald-client.min.js",
      onError: (message) => reported.push(message),
    });
    await use(demo);
    await demo.close();
  },
});
test.override({ gatewayOptions: { historyStorage: "memory", presence: true } });

function post(
  demo: RunningDemoApp,
  path: string,
  body: unknown,
  type = "application/json",
): Promise<Response> {
  return fetch(new URL(path, demo.url), {
    method: "POST",
    headers: { "content-type": type },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function login(
  demo: RunningDemoApp,
  user: string,
): Promise<{ token: string; user: string; expiresAt: number }> {
  const res = await post(demo, "/api/login", { user });
  expect(res.status).toBe(200);
  return (await res.json()) as { token: string; user: string; expiresAt: number };
}

describe("demo app: sign-in and auth", () => {
  test("issues opaque tokens, each valid for 10 minutes, that the gateway accepts as their user", async ({
    demo,
    client,
  }) => {
    const before = Date.now();
    const issued = await login(demo, "alice");
    expect(issued.user).toBe("alice");
    expect(issued.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Nothing in the token says whose it is.
    expect(Buffer.from(issued.token, "base64url").toString("latin1")).not.toContain("alice");
    expect(issued.expiresAt).toBeGreaterThanOrEqual(before + 600_000);
    expect(issued.expiresAt).toBeLessThanOrEqual(Date.now() + 600_000);
    expect((await login(demo, "alice")).token).not.toBe(issued.token);

    const alice = await client(issued.token);
    const frame = alice.frames.find((f) => f.type === "ready");
    expect(frame).toMatchObject({
      user: "alice",
      channels: ["user.alice", "channel.lobby"],
      presence: ["channel.lobby"],
      expiresAt: issued.expiresAt,
    });
  });

  test("refuses a token it never issued with invalid_token, which closes with 4401", async ({
    demo,
    socket,
  }) => {
    void demo; // it answers the auth request
    const client = await socket();
    client.send({ type: "auth", token: "made-up" });
    expect(await client.next("error", 10_000)).toMatchObject({
      code: "AUTH_REFUSED",
      reason: "invalid_token",
    });
    expect((await client.waitClose(10_000)).code).toBe(4401);
  });

  test("refuses an expired token", async () => {
    const tokens = new TokenStore(50);
    const { token } = tokens.issue("bob");
    expect(tokens.verify(token)?.user).toBe("bob");
    await sleep(80);
    expect(tokens.verify(token)).toBeUndefined();
    expect(tokens.size).toBe(0);
  });

  test("answers bad sign-in requests with 4xx and a JSON error", async ({ demo }) => {
    const unknown = await post(demo, "/api/login", { user: "eve" });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({
      error: "invalid_request",
      message: "user: must be one of alice, bob",
    });
    const notJson = await post(demo, "/api/login", "{user:");
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ error: "invalid_json" });
    const wrongType = await post(demo, "/api/login", "user=alice", "application/x-www-form-urlencoded");
    expect(wrongType.status).toBe(415);
    const tooLarge = await post(demo, "/api/login", { user: "alice", padding: "x".repeat(20_000) });
    expect(tooLarge.status).toBe(413);
    const wrongMethod = await fetch(new URL("/api/login", demo.url));
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    const missing = await fetch(new URL("/api/nothing", demo.url));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: "not_found" });
  });
});

describe("demo app: refresh", () => {
  // refreshBefore above the tokens' lifetime: token_expiring follows ready at once
  test.override({ gatewayOptions: { historyStorage: "memory", presence: true, refreshBefore: 3_600_000 } });

  test("accepts a fresh token of the same user as a refresh", async ({ demo, client }) => {
    const alice = await client((await login(demo, "alice")).token);
    await alice.next("token_expiring");
    const fresh = await login(demo, "alice");
    alice.send({ type: "refresh", token: fresh.token });
    expect(await alice.next("refreshed")).toMatchObject({ expiresAt: fresh.expiresAt });
  });

  test("leaves a refresh with another user's token to the gateway's rule: user_changed, 4401", async ({
    demo,
    client,
  }) => {
    const alice = await client((await login(demo, "alice")).token);
    await alice.next("token_expiring");
    alice.send({ type: "refresh", token: (await login(demo, "bob")).token });
    expect(await alice.next("error")).toMatchObject({ code: "REFRESH_REFUSED", reason: "user_changed" });
    expect((await alice.waitClose()).code).toBe(4401);
  });
});

describe("demo app: notifications and page", () => {
  test("publishes a notification to the user's channel", async ({ demo, client }) => {
    const alice = await client((await login(demo, "alice")).token);
    const res = await post(demo, "/api/notify", { user: "alice", message: "  tea is ready  " });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, subject: "herald.user.alice" });
    const [message] = await alice.waitForMessages(1, 10_000);
    expect(message).toMatchObject({ channel: "user.alice", data: "tea is ready" });
  });

  test("answers bad notifications with 400 and says what is wrong", async ({ demo }) => {
    const cases: [unknown, string][] = [
      [{ user: "alice", message: "   " }, "message: must not be empty"],
      [{ user: "alice", message: "x".repeat(1001) }, "message: must be at most 1000 characters"],
      [{ user: "alice", message: 42 }, "message: must be a string"],
      [{ user: "herald.>", message: "hi" }, "user: must be one of alice, bob"],
      [{ message: "hi" }, "user: is required"],
      ['"just text"', "the body must be a JSON object"],
    ];
    for (const [body, message] of cases) {
      const res = await post(demo, "/api/notify", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.json()).toEqual({ error: "invalid_request", message });
    }
  });

  test("serves the page with a strict content security policy, and nothing outside its file list", async ({
    demo,
    gateway,
  }) => {
    const page = await fetch(demo.url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(await page.text()).toContain('<script src="/herald-client.min.js" defer></script>');
    const config = await fetch(new URL("/api/config", demo.url));
    expect(await config.json()).toEqual({
      gatewayUrl: gateway.url,
      users: ["alice", "bob"],
      rooms: ["chat", "staff"],
      publishFlags: "",
    });
    for (const path of ["/app.js", "/room.js", "/style.css"]) {
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
  test("answers the page's time call with the server's time and the caller", async ({
    demo,
    client: ready,
  }) => {
    const client = await ready((await login(demo, "alice")).token);
    const before = Date.now();
    client.send({ type: "rpc", id: 1, method: "time" });
    const result = await client.next("rpc_result");
    expect(result).toMatchObject({ id: 1, data: { user: "alice" } });
    const now = (result.data as { now: number }).now;
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });

  test("revokes every token of the user and closes their connections; others stay", async ({
    demo,
    client: ready,
    socket,
  }) => {
    const first = await login(demo, "bob");
    const second = await login(demo, "bob");
    const bob = [await ready(first.token), await ready(second.token)];
    const alice = await ready((await login(demo, "alice")).token);
    const res = await post(demo, "/api/sign-out-everywhere", { user: "bob" });
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
    const again = await socket();
    again.send({ type: "auth", token: first.token });
    expect(await again.next("error")).toMatchObject({ code: "AUTH_REFUSED", reason: "invalid_token" });
    alice.send({ type: "ping" });
    await alice.next("pong");
    expect(alice.closed).toBeUndefined();
    expect(await ready((await login(demo, "bob")).token)).toBeDefined();
  });

  test("answers a bad sign-out request with 400", async ({ demo }) => {
    const res = await post(demo, "/api/sign-out-everywhere", { user: "mallory.*" });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: expect.any(String) });
  });
});

describe("demo app: rooms", () => {
  /** The answer to a subscribe: `subscribed` or `subscribe_error` (the lobby's joins may come between). */
  async function subscribe(client: TestClient, channel: string) {
    client.send({ type: "subscribe", channel });
    for (;;) {
      const frame = await client.next();
      if (frame.type === "subscribed" || frame.type === "subscribe_error") return frame;
    }
  }

  test("lets every demo user join the chat room, and only alice the staff room", async ({ demo, client }) => {
    const bob = await client((await login(demo, "bob")).token);
    const alice = await client((await login(demo, "alice")).token);
    expect(await subscribe(bob, "channel.chat")).toMatchObject({
      type: "subscribed",
      channel: "channel.chat",
    });
    expect(await subscribe(bob, "channel.staff")).toMatchObject({
      type: "subscribe_error",
      code: "SUBSCRIBE_REFUSED",
      reason: "not_a_member",
    });
    expect(await subscribe(bob, "channel.attic")).toMatchObject({
      type: "subscribe_error",
      reason: "not_a_member",
    });
    expect(await subscribe(alice, "channel.staff")).toMatchObject({
      type: "subscribed",
      channel: "channel.staff",
    });
  });

  test("sends a room message to everyone in the room", async ({ demo, client }) => {
    const bob = await client((await login(demo, "bob")).token);
    await subscribe(bob, "channel.chat");
    const res = await post(demo, "/api/room-message", { room: "chat", message: "  hello room  " });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, subject: "herald.channel.chat" });
    const [message] = await bob.waitForMessages(1);
    expect(message).toMatchObject({ channel: "channel.chat", data: "hello room" });
  });

  test("refuses a room message to a room that does not exist, or an empty one", async ({ demo }) => {
    for (const body of [{ room: "attic", message: "x" }, { room: "chat", message: " " }, { room: "chat" }]) {
      const res = await post(demo, "/api/room-message", body);
      expect(res.status).toBe(400);
    }
  });
});
