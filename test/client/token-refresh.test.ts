import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CloseCode } from "../../src/protocol/close-codes.js";
import { closeClients, observeClient } from "./observed-client.js";
import { ScriptedGateway, sleep, until } from "./scripted-gateway.js";

let gateway: ScriptedGateway;

beforeEach(async () => {
  gateway = await ScriptedGateway.start();
});

afterEach(async () => {
  closeClients();
  await gateway.close();
  expect(gateway.invalidFrames).toEqual([]);
});

describe("client: token refresh", () => {
  it("answers token_expiring with a refresh frame carrying a new token from getToken", async () => {
    const observed = observeClient(gateway.url);
    const peer = await gateway.connection(0);
    await peer.ready({ expiresAt: Date.now() + 60_000 });
    await until(() => observed.client.state === "ready", "ready");
    peer.send({ type: "token_expiring", expiresAt: Date.now() + 30_000 });
    expect(await peer.frame("refresh")).toEqual({ type: "refresh", token: "token-2" });
    peer.send({ type: "refreshed", expiresAt: Date.now() + 120_000 });
    peer.send({ type: "message", channel: "user.1", data: "still here" });
    await until(() => observed.messages.length === 1, "a message after the refresh");
    // Same connection, no errors, no state change.
    expect(gateway.connections).toHaveLength(1);
    expect(observed.states).toEqual(["connecting", "authenticating", "ready"]);
    expect(observed.errors).toEqual([]);
  });

  it("a refused refresh (REFRESH_REFUSED, 4401) surfaces the error and stops", async () => {
    const observed = observeClient(gateway.url);
    const peer = await gateway.connection(0);
    await peer.ready();
    peer.send({ type: "token_expiring", expiresAt: Date.now() + 30_000 });
    await peer.frame("refresh");
    peer.fail("REFRESH_REFUSED", CloseCode.AuthRefused, { reason: "revoked" });
    await until(() => observed.client.state === "closed", "closed");
    expect(observed.errors).toHaveLength(1);
    expect(observed.errors[0]).toMatchObject({
      code: "REFRESH_REFUSED",
      closeCode: 4401,
      retryable: false,
      reason: "revoked",
    });
    // Zero backoff: a reconnect would have happened by now.
    await sleep(300);
    expect(gateway.connections).toHaveLength(1);
  });

  it("when getToken fails on refresh, reports it and reconnects with a new token once the old one expires", async () => {
    let calls = 0;
    const getToken = async (): Promise<string> => {
      calls++;
      if (calls === 2) throw new Error("offline");
      return `token-${calls}`;
    };
    gateway.script((peer) => void peer.ready());
    const observed = observeClient(gateway.url, { getToken });
    const peer = await gateway.connection(0);
    await until(() => observed.client.state === "ready", "ready");
    peer.send({ type: "token_expiring", expiresAt: Date.now() + 1000 });
    await until(() => observed.errors.length === 1, "the token error");
    expect(observed.errors[0]).toMatchObject({ code: "TOKEN_UNAVAILABLE", retryable: true });
    expect(observed.client.state).toBe("ready");
    expect(peer.framesOf("refresh")).toEqual([]);

    peer.fail("TOKEN_EXPIRED", CloseCode.TokenExpired);
    const next = await gateway.connection(1);
    expect((await next.frame("auth")).token).toBe("token-3");
    await until(() => observed.client.state === "ready", "ready with the new token");
    expect(observed.errors[1]).toMatchObject({ code: "TOKEN_EXPIRED", closeCode: 4410, retryable: true });
  });
});
