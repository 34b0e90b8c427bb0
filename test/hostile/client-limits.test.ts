import { describe, expect } from "vitest";
import { CloseCode } from "../../src/protocol/index.js";
import type { RawBackend } from "../../src/testing/index.js";
import { rawTest as test } from "../fixtures.js";

/** What one connection may send: a frame rate with a burst, and refreshes only when asked, one at a time. */
describe("per-connection limits", () => {
  test.override({
    gatewayOptions: {
      clientFrameRate: 10,
      clientFrameBurst: 20,
      refreshBefore: 3_600_000, // token_expiring follows ready at once
    },
  });

  const refreshesOf = (backend: RawBackend, user: string) =>
    backend.requests.filter((r) => r.kind === "refresh" && r.user === user);

  test("closes a client over its frame rate with RATE_LIMITED and 1008, after its burst", async ({
    client,
  }) => {
    const flooder = await client("flooder");
    const bystander = await client("bystander1");
    for (let i = 0; i < 200; i++) flooder.send({ type: "ping" });
    expect(await flooder.next("error")).toMatchObject({ code: "RATE_LIMITED" });
    expect((await flooder.waitClose()).code).toBe(CloseCode.PolicyViolation);
    const pongs = flooder.frames.filter((f) => f.type === "pong").length;
    expect(pongs).toBeGreaterThanOrEqual(18); // the burst, less the auth frame and the refill
    expect(pongs).toBeLessThanOrEqual(22);
    bystander.send({ type: "ping" });
    expect(await bystander.next("pong")).toMatchObject({ type: "pong" });
  });

  test("turns a burst of 1,000 refresh frames into one backend request", async ({ client, backend }) => {
    const c = await client("refresher1");
    await c.next("token_expiring");
    for (let i = 0; i < 1000; i++) c.send({ type: "refresh", token: "refresher1" });
    expect(await c.next("error")).toMatchObject({ code: "RATE_LIMITED" });
    expect((await c.waitClose()).code).toBe(CloseCode.PolicyViolation);
    expect(refreshesOf(backend, "refresher1").length).toBeLessThanOrEqual(1);
    expect(c.frames.filter((f) => f.type === "refreshed").length).toBeLessThanOrEqual(1);
  });

  test("refuses a refresh nobody asked for, without asking the backend", async ({ client, backend }) => {
    // the refreshed token has no expiry, so the gateway asks no more: a second refresh is unsolicited
    backend.replies.set("refresh:refresher2", JSON.stringify({ ok: true, user: "refresher2" }));
    const c = await client("refresher2");
    await c.next("token_expiring");
    c.send({ type: "refresh", token: "refresher2" });
    expect(await c.next("refreshed")).toMatchObject({ type: "refreshed" });
    c.send({ type: "refresh", token: "refresher2" });
    expect(await c.next("error")).toMatchObject({ code: "RATE_LIMITED" });
    expect(refreshesOf(backend, "refresher2")).toHaveLength(1);
  });

  test("keeps other users' connects answered while one socket floods refreshes", async ({
    client,
    backend,
  }) => {
    const flooder = await client("refresher3");
    await flooder.next("token_expiring");
    for (let i = 0; i < 20; i++) flooder.send({ type: "refresh", token: "refresher3" });
    const others = await Promise.all(Array.from({ length: 20 }, (_, i) => client(`other${i}`)));
    expect(others.every((c) => c.frames[0]?.type === "ready")).toBe(true);
    expect(refreshesOf(backend, "refresher3").length).toBeLessThanOrEqual(1);
  });
});
