import { describe, expect } from "vitest";
import { WebSocket } from "ws";
import { connect, type HeraldClient } from "../../src/client/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { startTcpBalancer, waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

async function readyz(gateway: RunningGateway): Promise<{ status: number; reason?: string }> {
  const res = await fetch(`http://127.0.0.1:${gateway.port}/readyz`);
  const body = (await res.json()) as { reason?: string };
  return { status: res.status, ...(body.reason ? { reason: body.reason } : {}) };
}

const until = (what: string, check: () => boolean | Promise<boolean>) =>
  waitUntil(check, what, { timeoutMs: 15_000, intervalMs: 25 });

describe("the gateway's NATS connection", () => {
  test("makes the gateway not ready while its server answers no ping, and refuses new sockets at once", async ({
    nats,
    startGateway,
    socket,
    client,
  }) => {
    // Pings every 200 ms; leaving the server only after many, so this test sees the not-ready phase.
    const gateway = await startGateway({ history: false, natsPingInterval: 200, natsMaxPingsOut: 100 });
    expect(await readyz(gateway)).toEqual({ status: 200 });

    nats.pause();
    try {
      await until("/readyz 503", async () => (await readyz(gateway)).status === 503);
      expect(await readyz(gateway)).toEqual({ status: 503, reason: "the NATS server is not answering" });
      // A new socket is told to retry at once, not after the auth request's timeout.
      const late = await socket({ at: gateway });
      late.send({ type: "auth", token: "late" });
      expect(await late.next("error", 1000)).toMatchObject({ code: "BACKEND_UNAVAILABLE" });
    } finally {
      nats.resume();
    }
    await until("/readyz 200", async () => (await readyz(gateway)).status === 200);
    await client("back", { at: gateway });
  });

  test("closes the sockets of a channel that stored a message while it reconnected, and they recover it", async ({
    nats,
    backend,
    startGateway,
    onTestFinished,
  }) => {
    // The gateway reaches NATS through a TCP proxy the test can cut and hold shut.
    let open = true;
    const proxy = await startTcpBalancer(() => (open ? [nats.port] : []));
    onTestFinished(() => proxy.close());
    const gateway = await startGateway({
      nats: [`nats://127.0.0.1:${proxy.port}`],
      historyStorage: "memory",
    });

    const observe = (user: string) => {
      const seen = { readies: 0, errors: [] as string[], messages: [] as unknown[] };
      const client: HeraldClient = connect({
        url: gateway.url,
        getToken: () => user,
        WebSocket,
        backoff: { initialMs: 50, maxMs: 200 },
      });
      onTestFinished(() => client.close());
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
