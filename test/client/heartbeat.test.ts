import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { closeClients, observeClient } from "./observed-client.js";
import { ScriptedGateway, sleep, until } from "./scripted-gateway.js";

let gateway: ScriptedGateway;

beforeEach(async () => {
  gateway = await ScriptedGateway.start();
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
});

afterEach(async () => {
  vi.useRealTimers();
  closeClients();
  await gateway.close();
  expect(gateway.invalidFrames).toEqual([]);
});

const HEARTBEAT = 1000;
/** Two heartbeat intervals plus the client's 1 s grace. */
const SILENCE_LIMIT = 2 * HEARTBEAT + 1000;

describe("client: heartbeats and dead-connection detection", () => {
  it("answers every ping with pong, and pings keep the connection alive past the silence limit", async () => {
    const observed = observeClient(gateway.url);
    const peer = await gateway.connection(0);
    await peer.ready({ heartbeat: HEARTBEAT });
    await until(() => observed.client.state === "ready", "ready");
    for (let i = 0; i < 6; i++) {
      peer.send({ type: "ping" });
      await peer.frame("pong", i);
      await vi.advanceTimersByTimeAsync(HEARTBEAT);
    }
    // 6 s of fake time went by, twice the silence limit, and the connection is the same one.
    expect(peer.framesOf("pong")).toHaveLength(6);
    expect(peer.closed).toBeUndefined();
    expect(gateway.connections).toHaveLength(1);
    expect(observed.errors).toEqual([]);
  });

  it("any frame counts as a sign of life, not only ping", async () => {
    const observed = observeClient(gateway.url);
    const peer = await gateway.connection(0);
    await peer.ready({ heartbeat: HEARTBEAT });
    await until(() => observed.client.state === "ready", "ready");
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(SILENCE_LIMIT - 100);
      peer.send({ type: "message", channel: "user.1", data: i });
      await until(() => observed.messages.length === i + 1, `message ${i}`);
    }
    expect(peer.closed).toBeUndefined();
    expect(gateway.connections).toHaveLength(1);
  });

  it("declares a silent gateway dead after two heartbeats plus grace, closes and reconnects", async () => {
    gateway.script((peer) => void peer.ready({ heartbeat: HEARTBEAT }));
    const observed = observeClient(gateway.url);
    const silent = await gateway.connection(0);
    await until(() => observed.client.state === "ready", "ready");

    await vi.advanceTimersByTimeAsync(SILENCE_LIMIT - 1);
    await sleep(50);
    expect(silent.closed).toBeUndefined();
    expect(observed.client.state).toBe("ready");

    await vi.advanceTimersByTimeAsync(1);
    expect((await silent.waitClosed()).code).toBe(1000);
    expect(observed.errors.map((e) => e.code)).toEqual(["GATEWAY_SILENT"]);
    expect(observed.errors[0]!.retryable).toBe(true);
    expect(observed.client.state).toBe("reconnecting");

    await vi.advanceTimersByTimeAsync(1);
    const next = await gateway.connection(1);
    // A reconnect asks for a fresh token.
    expect((await next.frame("auth")).token).toBe("token-2");
    await until(() => observed.client.state === "ready", "ready again");
    expect(observed.states).toEqual([
      "connecting",
      "authenticating",
      "ready",
      "reconnecting",
      "connecting",
      "authenticating",
      "ready",
    ]);
  });
});
