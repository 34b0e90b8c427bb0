import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import { connect, type HeraldClient } from "../../src/client/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { startNats, startTcpBalancer, startTestGateway, TestClient } from "../../src/testing/index.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function readyz(gateway: RunningGateway): Promise<{ status: number; reason?: string }> {
  const res = await fetch(`http://127.0.0.1:${gateway.port}/readyz`);
  const body = (await res.json()) as { reason?: string };
  return { status: res.status, ...(body.reason ? { reason: body.reason } : {}) };
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the gateway's NATS connection", () => {
  it("makes the gateway not ready while its server answers no ping, and refuses new sockets at once", async () => {
    const nats = await startNats();
    cleanups.push(() => nats.stop());
    const backend = await HeraldBackend.connect({ servers: nats.url, history: false });
    cleanups.push(() => backend.close());
    backend.serveAuth((token) => accept({ user: token }));
    // Pings every 200 ms; leaving the server only after many, so this test sees the not-ready phase.
    const gateway = await startTestGateway(nats, { natsPingInterval: 200, natsMaxPingsOut: 100 });
    cleanups.push(() => gateway.close());
    cleanups.push(async () => nats.resume());
    expect(await readyz(gateway)).toEqual({ status: 200 });

    nats.pause();
    await until("/readyz 503", async () => (await readyz(gateway)).status === 503);
    expect(await readyz(gateway)).toEqual({ status: 503, reason: "the NATS server is not answering" });
    // A new socket is told to retry at once, not after the auth request's timeout.
    const client = await TestClient.open(gateway.url);
    cleanups.push(async () => client.close());
    client.send({ type: "auth", token: "late" });
    expect(await client.next("error", 1000)).toMatchObject({ code: "BACKEND_UNAVAILABLE" });

    nats.resume();
    await until("/readyz 200", async () => (await readyz(gateway)).status === 200);
    await TestClient.ready(gateway.url, "back").then((c) => c.close());
  });

  it("closes the sockets of a channel that stored a message while it reconnected, and they recover it", async () => {
    const nats = await startNats({ jetstream: true });
    cleanups.push(() => nats.stop());
    // The gateway reaches NATS through a TCP proxy the test can cut and hold shut.
    let open = true;
    const proxy = await startTcpBalancer(() => (open ? [nats.port] : []));
    cleanups.push(() => proxy.close());
    const backend = await HeraldBackend.connect({ servers: nats.url });
    cleanups.push(() => backend.close());
    backend.serveAuth((token) => accept({ user: token }));
    const gateway = await startTestGateway(`nats://127.0.0.1:${proxy.port}`, {
      history: true,
      historyStorage: "memory",
    });
    cleanups.push(() => gateway.close());

    const observe = (user: string) => {
      const seen = { readies: 0, errors: [] as string[], messages: [] as unknown[] };
      const client: HeraldClient = connect({
        url: gateway.url,
        getToken: () => user,
        WebSocket,
        backoff: { initialMs: 50, maxMs: 200 },
      });
      cleanups.push(async () => client.close());
      client.on("ready", () => seen.readies++);
      client.on("error", (error) => seen.errors.push(error.code));
      client.on("message", (message) => seen.messages.push(message.data));
      return seen;
    };
    const quiet = observe("quiet");
    const calm = observe("calm");
    await until("both ready", () => quiet.readies === 1 && calm.readies === 1);

    open = false;
    proxy.dropConnections();
    await until("gateway not ready", async () => (await readyz(gateway)).status === 503);
    // Stored while no live copy can reach the gateway; nothing is published after it.
    expect(await backend.publish("quiet", { only: "message" })).toMatchObject({ stored: true });
    open = true;

    await until("the message recovered", () => quiet.messages.length === 1);
    expect(quiet.messages).toEqual([{ only: "message" }]);
    expect(quiet.errors).toEqual(["INTERRUPTED"]);
    expect(quiet.readies).toBe(2);
    // A channel that stored nothing meanwhile keeps its socket.
    expect(calm).toEqual({ readies: 1, errors: [], messages: [] });
  });
});
