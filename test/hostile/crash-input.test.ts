import { describe, expect } from "vitest";
import { CloseCode } from "../../src/protocol/index.js";
import type { TestClient } from "../../src/testing/index.js";
import { rawTest as test } from "../fixtures.js";

/**
 * Input that once ended the whole process: client and backend text that, quoted in a close reason,
 * passed the 123 bytes a close frame allows. Each case must close only its own socket, with a short
 * fixed reason, while the gateway keeps serving everyone else.
 */
describe("input that must not crash the gateway", () => {
  // refreshBefore above the token lifetime: token_expiring follows ready at once
  test.override({ gatewayOptions: { refreshBefore: 3_600_000 } });

  /** After each hostile case: a fresh user still connects. */
  async function stillServes(client: (token: string) => Promise<TestClient>): Promise<void> {
    expect((await client("bystander")).frames[0]).toMatchObject({ type: "ready", user: "bystander" });
  }

  function expectShortReason(reason: string): void {
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(reason).toMatch(/^[A-Z_]*$/);
  }

  test("closes 4400 on a frame type of 40 euro signs, with a fixed close reason", async ({
    socket,
    client,
  }) => {
    const c = await socket();
    c.send(`{"type":"${"€".repeat(40)}"}`);
    const error = await c.next("error");
    expect(error).toMatchObject({ code: "UNKNOWN_TYPE" });
    expect(String(error.message).length).toBeLessThan(120);
    const closed = await c.waitClose();
    expect(closed.code).toBe(CloseCode.InvalidFrame);
    expectShortReason(closed.reason);
    await stillServes(client);
  });

  test("closes 4400 on a non-ASCII key in recover.since", async ({ socket, client }) => {
    const c = await socket();
    c.send({ type: "auth", token: "x", recover: { epoch: "1", since: { ["€".repeat(300)]: 1 } } });
    expect(await c.next("error")).toMatchObject({ code: "INVALID_FRAME" });
    const closed = await c.waitClose();
    expect(closed.code).toBe(CloseCode.InvalidFrame);
    expectShortReason(closed.reason);
    await stillServes(client);
  });

  test("passes a backend refusal of 45 Japanese characters in the error frame, not the close reason", async ({
    socket,
    client,
    backend,
  }) => {
    const message = "このトークンは無効です。".repeat(4).slice(0, 45);
    backend.replies.set("jp", JSON.stringify({ ok: false, error: { code: "invalid_token", message } }));
    const c = await socket();
    c.send({ type: "auth", token: "jp" });
    expect(await c.next("error")).toMatchObject({ code: "AUTH_REFUSED", message, reason: "invalid_token" });
    const closed = await c.waitClose();
    expect(closed.code).toBe(CloseCode.AuthRefused);
    expectShortReason(closed.reason);
    await stillServes(client);
  });

  test("survives a non-ASCII refresh refusal", async ({ client, backend }) => {
    backend.replies.set(
      "refresh:new-jp",
      JSON.stringify({ ok: false, error: { code: "revoked", message: "取り消されました".repeat(20) } }),
    );
    const c = await client("refresher");
    await c.next("token_expiring");
    c.send({ type: "refresh", token: "new-jp" });
    expect(await c.next("error")).toMatchObject({ code: "REFRESH_REFUSED", reason: "revoked" });
    const closed = await c.waitClose();
    expect(closed.code).toBe(CloseCode.AuthRefused);
    expectShortReason(closed.reason);
    await stillServes(client);
  });

  test("refuses since: 1e308 with 4400, not a retryable 1013", async ({ socket }) => {
    const c = await socket();
    c.send(`{"type":"auth","token":"big","recover":{"epoch":"1","since":{"user.big":1e308}}}`);
    expect(await c.next("error")).toMatchObject({ code: "INVALID_FRAME" });
    expect((await c.waitClose()).code).toBe(CloseCode.InvalidFrame);
  });

  test("quotes a 15 KB invalid value only briefly in the error frame", async ({ socket }) => {
    const c = await socket();
    // Under --max-frame-bytes (16 KiB by default) so it reaches the schema.
    c.send({ type: "auth", token: "t", recover: { epoch: "1", since: { ["A".repeat(15_000)]: 1 } } });
    const error = await c.next("error");
    expect(error).toMatchObject({ code: "INVALID_FRAME" });
    expect(String(error.message).length).toBeLessThan(300);
    expect(String(error.message)).not.toContain("A".repeat(200));
  });
});
