import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../src/gateway/index.js";
import { CloseCode } from "../../src/protocol/index.js";
import { type NatsServer, startNats, startTestGateway, TestClient } from "../../src/testing/index.js";
import { type RawBackend, startRawBackend } from "./hostile-backend.js";

/** What one connection may send: a frame rate with a burst, and refreshes only when asked, one at a time. */
describe("per-connection limits", () => {
  let nats: NatsServer;
  let backend: RawBackend;
  let gateway: RunningGateway;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    nats = await startNats();
    backend = await startRawBackend(nats.url);
    gateway = await startTestGateway(nats, {
      clientFrameRate: 10,
      clientFrameBurst: 20,
      refreshBefore: 3_600_000, // token_expiring follows ready at once
    });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await gateway?.close();
    await backend?.close();
    await nats?.stop();
  });

  async function ready(token: string): Promise<TestClient> {
    const c = await TestClient.ready(gateway.url, token);
    clients.push(c);
    return c;
  }

  const refreshesOf = (user: string) =>
    backend.requests.filter((r) => r.kind === "refresh" && r.user === user);

  it("closes a client over its frame rate with RATE_LIMITED and 1008, after its burst", async () => {
    const flooder = await ready("flooder");
    const bystander = await ready("bystander1");
    for (let i = 0; i < 200; i++) flooder.send({ type: "ping" });
    expect(await flooder.next("error")).toMatchObject({ code: "RATE_LIMITED" });
    expect((await flooder.waitClose()).code).toBe(CloseCode.PolicyViolation);
    const pongs = flooder.frames.filter((f) => f.type === "pong").length;
    expect(pongs).toBeGreaterThanOrEqual(18); // the burst, less the auth frame and the refill
    expect(pongs).toBeLessThanOrEqual(22);
    bystander.send({ type: "ping" });
    expect(await bystander.next("pong")).toMatchObject({ type: "pong" });
  });

  it("turns a burst of 1,000 refresh frames into one backend request", async () => {
    const c = await ready("refresher1");
    await c.next("token_expiring");
    for (let i = 0; i < 1000; i++) c.send({ type: "refresh", token: "refresher1" });
    expect(await c.next("error")).toMatchObject({ code: "RATE_LIMITED" });
    expect((await c.waitClose()).code).toBe(CloseCode.PolicyViolation);
    expect(refreshesOf("refresher1").length).toBeLessThanOrEqual(1);
    expect(c.frames.filter((f) => f.type === "refreshed").length).toBeLessThanOrEqual(1);
  });

  it("refuses a refresh nobody asked for, without asking the backend", async () => {
    // the refreshed token has no expiry, so the gateway asks no more: a second refresh is unsolicited
    backend.replies.set("refresh:refresher2", JSON.stringify({ ok: true, user: "refresher2" }));
    const c = await ready("refresher2");
    await c.next("token_expiring");
    c.send({ type: "refresh", token: "refresher2" });
    expect(await c.next("refreshed")).toMatchObject({ type: "refreshed" });
    c.send({ type: "refresh", token: "refresher2" });
    expect(await c.next("error")).toMatchObject({ code: "RATE_LIMITED" });
    expect(refreshesOf("refresher2")).toHaveLength(1);
  });

  it("keeps other users' connects answered while one socket floods refreshes", async () => {
    const flooder = await ready("refresher3");
    await flooder.next("token_expiring");
    for (let i = 0; i < 20; i++) flooder.send({ type: "refresh", token: "refresher3" });
    const others = await Promise.all(Array.from({ length: 20 }, (_, i) => ready(`other${i}`)));
    expect(others.every((c) => c.frames[0]?.type === "ready")).toBe(true);
    expect(refreshesOf("refresher3").length).toBeLessThanOrEqual(1);
  });
});
