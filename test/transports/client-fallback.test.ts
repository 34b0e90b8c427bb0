import { describe, expect } from "vitest";
import WebSocket from "ws";
import { grant } from "../../src/backend/index.js";
import {
  type ConnectOptions,
  connect,
  type HeraldClient,
  type MessageFrame,
  type TransportName,
} from "../../src/client/index.js";
import { waitUntil } from "../../src/testing/index.js";
import { test as base } from "../fixtures.js";
import { type BlockingProxy, startBlockingProxy } from "./blocking-proxy.js";

/**
 * The client SDK's fallback, against a real gateway behind a proxy that blocks WebSockets: it
 * falls back to HTTP-streaming, behaves as over a WebSocket, remembers what worked, and goes back
 * to WebSocket once the network lets it through.
 */
const test = base.extend<{
  proxy: BlockingProxy;
  open: (options?: Partial<ConnectOptions>) => Observed;
}>({
  proxy: async ({ gateway }, use) => {
    const proxy = await startBlockingProxy(gateway, "/ws");
    await use(proxy);
    await proxy.close();
  },
  open: async ({ proxy }, use) => {
    const clients: HeraldClient[] = [];
    await use((options = {}) => {
      const client = connect({
        url: proxy.url,
        WebSocket,
        getToken: () => "ann",
        backoff: { initialMs: 20, maxMs: 100 },
        ...options,
      });
      clients.push(client);
      return observe(client);
    });
    for (const client of clients) client.close();
  },
});

interface Observed {
  client: HeraldClient;
  states: string[];
  messages: MessageFrame[];
  /** The transport of each `ready`. */
  readyOver: TransportName[];
}

function observe(client: HeraldClient): Observed {
  const observed: Observed = { client, states: [], messages: [], readyOver: [] };
  client.on("state", (state) => observed.states.push(state));
  client.on("message", (message) => observed.messages.push(message));
  client.on("ready", () => observed.readyOver.push(client.transportName));
  return observed;
}

const ready = (observed: Observed, count = 1) =>
  waitUntil(() => observed.readyOver.length >= count && observed.client.state === "ready", "ready", {
    timeoutMs: 10_000,
  });

describe("the client's fallback when WebSockets are blocked", () => {
  test("falls back to HTTP-streaming, where ready, messages, subscribe and rpc work as over a WebSocket", async ({
    open,
    backend,
    proxy,
  }) => {
    backend.onSubscribe(() => grant());
    backend.onRpc("echo", (data) => data);
    await backend.flush();
    const ann = open();
    await ready(ann);
    expect(ann.readyOver).toEqual(["http-stream"]);
    expect(proxy.upgradeAttempts).toBe(1);
    expect(ann.states).toEqual(["connecting", "reconnecting", "connecting", "authenticating", "ready"]);
    await backend.publishStored("ann", { n: 1 });
    await waitUntil(() => ann.messages.length === 1, "a message over the stream");
    const news = ann.client.subscribe("channel.news");
    await waitUntil(() => news.state === "subscribed", "subscribed over POSTs");
    await backend.publishStored({ channel: "news" }, { n: 2 });
    await waitUntil(() => ann.messages.length === 2, "the channel's message");
    expect(await ann.client.rpc("echo", { q: 1 })).toEqual({ q: 1 });
    expect(ann.messages.map((m) => [m.channel, m.data])).toEqual([
      ["user.ann", { n: 1 }],
      ["channel.news", { n: 2 }],
    ]);
  });

  test("another client of the page starts with what worked; a restart is recovered over it exactly once", async ({
    open,
    backend,
    gateway,
    startGateway,
    proxy,
  }) => {
    const first = open();
    await ready(first);
    const second = open({ getToken: () => "bob" });
    await ready(second);
    // No second upgrade: the page remembered that HTTP-streaming works.
    expect(proxy.upgradeAttempts).toBe(1);
    expect(second.states).toEqual(["connecting", "authenticating", "ready"]);
    await backend.publishStored("bob", { n: 1 });
    await waitUntil(() => second.messages.length === 1, "the first message");
    const port = gateway.port;
    await gateway.close();
    await waitUntil(() => second.client.state === "reconnecting", "reconnecting");
    await backend.publishStored("bob", { n: 2 });
    await startGateway({ port });
    await ready(second, 2);
    await backend.publishStored("bob", { n: 3 });
    await waitUntil(() => second.messages.length === 3, "the missed and the new message");
    expect(second.messages.map((m) => (m.data as { n: number }).n)).toEqual([1, 2, 3]);
    expect(second.readyOver).toEqual(["http-stream", "http-stream"]);
  });

  test("tries the WebSocket again later, and moves to it once the network lets it through", async ({
    open,
    backend,
    proxy,
  }) => {
    const ann = open({ retryFirstMs: 300 });
    await ready(ann);
    expect(ann.client.transportName).toBe("http-stream");
    await backend.publishStored("ann", { n: 1 });
    await waitUntil(() => ann.messages.length === 1, "a message over the stream");
    await waitUntil(() => proxy.upgradeAttempts >= 2, "the WebSocket tried again");
    proxy.upgrades = "pass";
    await ready(ann, 2);
    expect(ann.readyOver).toEqual(["http-stream", "websocket"]);
    await backend.publishStored("ann", { n: 2 });
    await waitUntil(() => ann.messages.length === 2, "a message over the WebSocket");
    expect(ann.messages.map((m) => (m.data as { n: number }).n)).toEqual([1, 2]);
  });

  test("a WebSocket that opens and is cut before any frame is left after three tries", async ({
    open,
    proxy,
  }) => {
    proxy.upgrades = "cut";
    const ann = open();
    await ready(ann);
    expect(proxy.upgradeAttempts).toBe(3);
    expect(ann.readyOver).toEqual(["http-stream"]);
  });

  test("`transports` chooses and orders them: HTTP-streaming alone never asks for an upgrade", async ({
    open,
    proxy,
  }) => {
    proxy.upgrades = "pass";
    const ann = open({ transports: ["http-stream"] });
    await ready(ann);
    expect(ann.states).toEqual(["connecting", "authenticating", "ready"]);
    expect(proxy.upgradeAttempts).toBe(0);
    const bob = open({ getToken: () => "bob" });
    await ready(bob);
    // The page remembered HTTP-streaming for this URL: the next client starts there.
    expect(bob.readyOver).toEqual(["http-stream"]);
  });
});
