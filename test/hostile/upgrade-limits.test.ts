import { connect as tcpConnect } from "node:net";
import { describe, expect } from "vitest";
import type { RunningGateway } from "../../src/gateway/index.js";
import { rawTest as test } from "../fixtures.js";

// No JetStream: the gateways here run without history.
test.override({ natsOptions: {}, gatewayOptions: { history: false } });

/** What is refused at the HTTP upgrade, before any WebSocket work: origins, connection counts, slowloris. */
describe("upgrade limits", () => {
  const base = (g: RunningGateway) => `http://127.0.0.1:${g.port}`;

  test("answers 403 to an origin outside --allowed-origins, and lets allowed ones and non-browsers in", async ({
    startGateway,
    socket,
  }) => {
    const g = await startGateway({
      history: false,
      allowedOrigins: ["https://app.example.com", "https://*.example.org"],
    });
    await expect(socket({ at: g, headers: { origin: "https://evil.example" } })).rejects.toThrow(/403/);
    await expect(socket({ at: g, headers: { origin: "https://example.org" } })).rejects.toThrow(/403/);
    await expect(socket({ at: g, headers: { origin: "https://app.example.com.evil.io" } })).rejects.toThrow(
      /403/,
    );
    await socket({ at: g, headers: { origin: "https://app.example.com" } });
    await socket({ at: g, headers: { origin: "https://a.b.example.org" } });
    await socket({ at: g }); // no Origin: not a browser
  });

  test("answers 429 past --max-connections-per-ip, per address, and frees the slot on close", async ({
    startGateway,
    socket,
  }) => {
    const g = await startGateway({ history: false, maxConnectionsPerIp: 3 });
    const held = await Promise.all([1, 2, 3].map(() => socket({ at: g, localAddress: "127.0.0.1" })));
    await expect(socket({ at: g, localAddress: "127.0.0.1" })).rejects.toThrow(/429/);
    await socket({ at: g, localAddress: "127.0.0.2" }); // another address has its own share
    held[0]?.close();
    await expect
      .poll(async () => {
        try {
          await socket({ at: g, localAddress: "127.0.0.1" });
          return true;
        } catch {
          return false;
        }
      })
      .toBe(true);
  });

  test("answers 503 past --max-connections while /healthz and /readyz keep answering", async ({
    startGateway,
    socket,
  }) => {
    const g = await startGateway({ history: false, maxConnections: 5 });
    await Promise.all(
      Array.from({ length: 5 }, (_, i) => socket({ at: g, localAddress: `127.0.0.${i + 1}` })),
    );
    await expect(socket({ at: g, localAddress: "127.0.0.9" })).rejects.toThrow(/503/);
    expect((await fetch(`${base(g)}/healthz`)).status).toBe(200);
    expect((await fetch(`${base(g)}/readyz`)).status).toBe(200);
  });

  test("takes the client address from X-Forwarded-For only behind a trusted proxy", async ({
    backend,
    startGateway,
    socket,
  }) => {
    const untrusting = await startGateway({ history: false, maxConnectionsPerIp: 1 });
    const spoof = { headers: { "x-forwarded-for": "203.0.113.7" }, localAddress: "127.0.0.3" };
    await socket({ at: untrusting, ...spoof });
    // the header is ignored: the second socket from 127.0.0.3 is over the limit whatever it claims
    await expect(
      socket({ at: untrusting, ...spoof, headers: { "x-forwarded-for": "203.0.113.8" } }),
    ).rejects.toThrow(/429/);

    const proxied = await startGateway({
      history: false,
      maxConnectionsPerIp: 1,
      trustedProxies: ["127.0.0.0/8"],
    });
    const viaProxy = (client: string) => ({
      headers: { "x-forwarded-for": `${client}, 127.0.0.5` },
      localAddress: "127.0.0.4",
    });
    const first = await socket({ at: proxied, ...viaProxy("198.51.100.1") });
    await socket({ at: proxied, ...viaProxy("198.51.100.2") }); // same proxy, another client
    await expect(socket({ at: proxied, ...viaProxy("198.51.100.1") })).rejects.toThrow(/429/);
    first.send({ type: "auth", token: "proxied" });
    await first.next("ready");
    expect(backend.requests.find((r) => r.token === "proxied")?.remoteAddress).toBe("198.51.100.1");
  });

  test("closes a connection that sends its request headers one byte at a time (slowloris)", async ({
    startGateway,
    onTestFinished,
  }) => {
    const g = await startGateway({ history: false, upgradeTimeout: 500 });
    const tcp = tcpConnect(g.port, "127.0.0.1");
    tcp.on("error", () => undefined); // the gateway hangs up on it: a reset is the expected end
    onTestFinished(() => void tcp.destroy());
    const closed = new Promise<void>((resolve) => tcp.once("close", () => resolve()));
    const request = `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Slow: ${"a".repeat(100)}`;
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < request.length && !tcp.destroyed) tcp.write(request[sent++] ?? "");
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
