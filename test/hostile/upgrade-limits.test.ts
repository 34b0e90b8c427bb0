import { type Socket, connect as tcpConnect } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../src/gateway/index.js";
import {
  type NatsServer,
  type RawBackend,
  startNats,
  startRawBackend,
  startTestGateway,
  TestClient,
} from "../../src/testing/index.js";

/** What is refused at the HTTP upgrade, before any WebSocket work: origins, connection counts, slowloris. */
describe("upgrade limits", () => {
  let nats: NatsServer;
  let backend: RawBackend;
  const gateways: RunningGateway[] = [];
  const clients: TestClient[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    nats = await startNats();
    backend = await startRawBackend(nats.url);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of sockets.splice(0)) s.destroy();
    for (const g of gateways.splice(0)) await g.close();
  });
  afterAll(async () => {
    await backend?.close();
    await nats?.stop();
  });

  async function gatewayWith(overrides: Parameters<typeof startTestGateway>[1]): Promise<RunningGateway> {
    const g = await startTestGateway(nats, overrides);
    gateways.push(g);
    return g;
  }

  async function open(url: string, options: Parameters<typeof TestClient.open>[1] = {}): Promise<TestClient> {
    const c = await TestClient.open(url, options);
    clients.push(c);
    return c;
  }

  const base = (g: RunningGateway) => `http://127.0.0.1:${g.port}`;

  it("answers 403 to an origin outside --allowed-origins, and lets allowed ones and non-browsers in", async () => {
    const g = await gatewayWith({ allowedOrigins: ["https://app.example.com", "https://*.example.org"] });
    await expect(open(g.url, { headers: { origin: "https://evil.example" } })).rejects.toThrow(/403/);
    await expect(open(g.url, { headers: { origin: "https://example.org" } })).rejects.toThrow(/403/);
    await expect(open(g.url, { headers: { origin: "https://app.example.com.evil.io" } })).rejects.toThrow(
      /403/,
    );
    await open(g.url, { headers: { origin: "https://app.example.com" } });
    await open(g.url, { headers: { origin: "https://a.b.example.org" } });
    await open(g.url); // no Origin: not a browser
  });

  it("answers 429 past --max-connections-per-ip, per address, and frees the slot on close", async () => {
    const g = await gatewayWith({ maxConnectionsPerIp: 3 });
    const held = await Promise.all([1, 2, 3].map(() => open(g.url, { localAddress: "127.0.0.1" })));
    await expect(open(g.url, { localAddress: "127.0.0.1" })).rejects.toThrow(/429/);
    await open(g.url, { localAddress: "127.0.0.2" }); // another address has its own share
    held[0]?.close();
    await expect
      .poll(async () => {
        try {
          await open(g.url, { localAddress: "127.0.0.1" });
          return true;
        } catch {
          return false;
        }
      })
      .toBe(true);
  });

  it("answers 503 past --max-connections while /healthz and /readyz keep answering", async () => {
    const g = await gatewayWith({ maxConnections: 5 });
    await Promise.all(Array.from({ length: 5 }, (_, i) => open(g.url, { localAddress: `127.0.0.${i + 1}` })));
    await expect(open(g.url, { localAddress: "127.0.0.9" })).rejects.toThrow(/503/);
    expect((await fetch(`${base(g)}/healthz`)).status).toBe(200);
    expect((await fetch(`${base(g)}/readyz`)).status).toBe(200);
  });

  it("takes the client address from X-Forwarded-For only behind a trusted proxy", async () => {
    const untrusting = await gatewayWith({ maxConnectionsPerIp: 1 });
    const spoof = { headers: { "x-forwarded-for": "203.0.113.7" }, localAddress: "127.0.0.3" };
    await open(untrusting.url, spoof);
    // the header is ignored: the second socket from 127.0.0.3 is over the limit whatever it claims
    await expect(
      open(untrusting.url, { ...spoof, headers: { "x-forwarded-for": "203.0.113.8" } }),
    ).rejects.toThrow(/429/);

    const proxied = await gatewayWith({ maxConnectionsPerIp: 1, trustedProxies: ["127.0.0.0/8"] });
    const viaProxy = (client: string) => ({
      headers: { "x-forwarded-for": `${client}, 127.0.0.5` },
      localAddress: "127.0.0.4",
    });
    const first = await open(proxied.url, viaProxy("198.51.100.1"));
    await open(proxied.url, viaProxy("198.51.100.2")); // same proxy, another client
    await expect(open(proxied.url, viaProxy("198.51.100.1"))).rejects.toThrow(/429/);
    first.send({ type: "auth", token: "proxied" });
    await first.next("ready");
    expect(backend.requests.find((r) => r.token === "proxied")?.remoteAddress).toBe("198.51.100.1");
  });

  it("closes a connection that sends its request headers one byte at a time (slowloris)", async () => {
    const g = await gatewayWith({ upgradeTimeout: 500 });
    const socket = tcpConnect(g.port, "127.0.0.1");
    socket.on("error", () => undefined); // the gateway hangs up on it: a reset is the expected end
    sockets.push(socket);
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    const request = `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Slow: ${"a".repeat(100)}`;
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < request.length && !socket.destroyed) socket.write(request[sent++] ?? "");
    }, 100);
    // 10 s of dripping would be 100 bytes: the gateway must hang up long before the request ends.
    const outcome = await Promise.race([
      closed.then(() => "closed"),
      new Promise((r) => setTimeout(() => r("still open"), 10_000)),
    ]);
    clearInterval(drip);
    expect(outcome).toBe("closed");
    expect(sent).toBeLessThan(request.length);
  });
});
