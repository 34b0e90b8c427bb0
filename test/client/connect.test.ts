import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import {
  connect,
  HeraldClientError,
  type MessageFrame,
  type UnsubscribedFrame,
} from "../../src/client/index.js";
import { closeClients, observeClient } from "./observed-client.js";
import { ScriptedGateway, sleep, until } from "./scripted-gateway.js";

let gateway: ScriptedGateway;

beforeEach(async () => {
  gateway = await ScriptedGateway.start();
});

afterEach(async () => {
  closeClients();
  vi.unstubAllGlobals();
  await gateway.close();
  expect(gateway.invalidFrames).toEqual([]);
});

describe("client: connect, events, close", () => {
  it("authenticates with the token from getToken and reports connecting, authenticating, ready", async () => {
    const observed = observeClient(gateway.url, { getToken: async () => "secret-token" });
    expect(observed.client.state).toBe("connecting");
    const peer = await gateway.connection(0);
    const auth = await peer.frame("auth");
    // A first connection has nothing to recover.
    expect(auth).toEqual({ type: "auth", token: "secret-token" });
    await peer.ready({ user: "42", channels: ["user.42", "channel.news"], heartbeat: 20_000 });
    await until(() => observed.client.state === "ready", "ready");
    expect(observed.states).toEqual(["connecting", "authenticating", "ready"]);
    expect(observed.readies).toHaveLength(1);
    expect(observed.readies[0]).toMatchObject({ user: "42", channels: ["user.42", "channel.news"] });
    expect(observed.client.session?.user).toBe("42");
    expect(observed.resyncs).toEqual([]);
  });

  it("delivers every message on `message` and each channel's on its own listener until unsubscribed", async () => {
    const observed = observeClient(gateway.url);
    const userOne: MessageFrame[] = [];
    const news: MessageFrame[] = [];
    const unsubscribeUser = observed.client.channel("user.1", (m) => userOne.push(m));
    observed.client.channel("channel.news", (m) => news.push(m));
    const peer = await gateway.connection(0);
    await peer.ready({ channels: ["user.1", "channel.news"] });
    peer.send({ type: "message", channel: "user.1", data: { title: "hi" } });
    peer.send({ type: "message", channel: "channel.news", data: "plain text" });
    await until(() => observed.messages.length === 2, "two messages");
    expect(userOne.map((m) => m.data)).toEqual([{ title: "hi" }]);
    expect(news.map((m) => m.data)).toEqual(["plain text"]);

    unsubscribeUser();
    peer.send({ type: "message", channel: "user.1", data: 2 });
    await until(() => observed.messages.length === 3, "a third message");
    expect(userOne).toHaveLength(1);
    expect(observed.messages.map((m) => m.channel)).toEqual(["user.1", "channel.news", "user.1"]);
  });

  it("drops what is still on its way for a channel the gateway took away, granted at auth or subscribed", async () => {
    const observed = observeClient(gateway.url);
    const peer = await gateway.connection(0);
    await peer.ready({ channels: ["user.1", "channel.news"] });
    const room = observed.client.subscribe("channel.room");
    const ended: UnsubscribedFrame[] = [];
    room.on("unsubscribed", (frame) => ended.push(frame));
    await peer.frame("subscribe");
    peer.send({ type: "subscribed", channel: "channel.room" });
    await until(() => room.state === "subscribed", "subscribed");

    peer.send({ type: "unsubscribed", channel: "channel.news", reason: "removed" });
    peer.send({ type: "unsubscribed", channel: "channel.room", reason: "expired" });
    peer.send({ type: "message", channel: "channel.news", data: "late news" });
    peer.send({ type: "message", channel: "channel.room", data: "late room" });
    // One socket keeps the order: once this one is in, the two before it were dropped.
    peer.send({ type: "message", channel: "user.1", data: "still held" });
    await until(() => observed.messages.length > 0, "the message of the channel still held");
    expect(observed.messages.map((m) => m.data)).toEqual(["still held"]);
    expect(room.state).toBe("closed");
    expect(ended).toEqual([{ type: "unsubscribed", channel: "channel.room", reason: "expired" }]);
  });

  it("keeps delivering to the other listeners when one throws", async () => {
    const observed = observeClient(gateway.url);
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => {
      uncaught.push(err);
    };
    process.on("uncaughtException", onUncaught);
    try {
      observed.client.on("message", () => {
        throw new Error("listener bug");
      });
      const peer = await gateway.connection(0);
      await peer.ready();
      peer.send({ type: "message", channel: "user.1", data: 1 });
      await until(() => observed.messages.length === 1 && uncaught.length === 1, "message and rethrow");
      expect((uncaught[0] as Error).message).toBe("listener bug");
      expect(observed.client.state).toBe("ready");
    } finally {
      process.off("uncaughtException", onUncaught);
    }
  });

  it("reports a frame it does not understand and keeps the connection", async () => {
    const observed = observeClient(gateway.url);
    const peer = await gateway.connection(0);
    await peer.ready();
    peer.send("{not json");
    peer.send({ type: "message", channel: "user.1", data: "after" });
    await until(() => observed.messages.length === 1, "the message after the bad frame");
    expect(observed.errors.map((e) => e.code)).toEqual(["INVALID_SERVER_FRAME"]);
    expect(observed.client.state).toBe("ready");
    expect(gateway.connections).toHaveLength(1);
  });

  it("close() closes with 1000, reports closed and never reconnects", async () => {
    const observed = observeClient(gateway.url);
    const peer = await gateway.connection(0);
    await peer.ready();
    await until(() => observed.client.state === "ready", "ready");
    observed.client.close();
    expect(observed.client.state).toBe("closed");
    expect((await peer.waitClosed()).code).toBe(1000);
    await sleep(200);
    expect(gateway.connections).toHaveLength(1);
    expect(observed.states.at(-1)).toBe("closed");
    expect(observed.errors).toEqual([]);
  });

  it("close() right after connect() opens no connection at all", async () => {
    const observed = observeClient(gateway.url);
    observed.client.close();
    await sleep(200);
    expect(gateway.connections).toHaveLength(0);
    expect(observed.tokenCalls()).toBe(0);
  });

  it("connect() starts again after close(), asking for a fresh token", async () => {
    const observed = observeClient(gateway.url);
    gateway.script((peer) => void peer.ready());
    await until(() => observed.client.state === "ready", "ready");
    observed.client.close();
    observed.client.connect();
    await until(() => observed.client.state === "ready" && gateway.connections.length === 2, "ready again");
    expect((await gateway.connections[1]!.frame("auth")).token).toBe("token-2");
  });

  it("reconnect() drops a live connection and connects again at once", async () => {
    const observed = observeClient(gateway.url, { backoff: { initialMs: 60_000, random: () => 0.99 } });
    gateway.script((peer) => void peer.ready());
    await until(() => observed.client.state === "ready", "ready");
    observed.client.reconnect();
    expect((await gateway.connections[0]!.waitClosed()).code).toBe(1000);
    await until(() => observed.client.state === "ready" && gateway.connections.length === 2, "ready again");
  });

  it("stops with CONNECT_FAILED when the WebSocket cannot even be constructed", async () => {
    const observed = observeClient("not a url");
    await until(() => observed.client.state === "closed", "closed");
    expect(observed.errors).toHaveLength(1);
    expect(observed.errors[0]).toMatchObject({ code: "CONNECT_FAILED", retryable: false });
  });

  it("throws NO_WEBSOCKET when there is no WebSocket to use", () => {
    vi.stubGlobal("WebSocket", undefined);
    const attempt = (): unknown => connect({ url: gateway.url, getToken: () => "t" });
    expect(attempt).toThrow(HeraldClientError);
    expect(attempt).toThrow(/pass one as the `WebSocket` option/);
    try {
      attempt();
    } catch (err) {
      expect((err as HeraldClientError).code).toBe("NO_WEBSOCKET");
    }
  });

  it("uses the global WebSocket when none is injected", async () => {
    vi.stubGlobal("WebSocket", WebSocket);
    const client = connect({ url: gateway.url, getToken: () => "global" });
    try {
      const peer = await gateway.connection(0);
      expect((await peer.frame("auth")).token).toBe("global");
    } finally {
      client.close();
    }
  });

  it("throws INVALID_OPTIONS without url or getToken", () => {
    const bad = [{ url: gateway.url }, { getToken: () => "t" }, undefined];
    for (const options of bad) {
      expect(() => connect(options as never)).toThrow(/connect needs \{ url: string, getToken/);
    }
  });
});
