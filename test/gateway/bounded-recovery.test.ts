import { describe, expect } from "vitest";
import { accept, type HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { type ReceivedFrame, waitUntil } from "../../src/testing/index.js";
import { type ClientOptions, connectReady, type OpenClient, test } from "../fixtures.js";

const PAD = "x".repeat(60_000); // a 60 KB message
const numbers = (frames: ReceivedFrame[]) => frames.map((f) => (f.data as { n: number }).n);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Reads a metric of the gateway's /metrics. */
async function metric(gateway: RunningGateway, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1] ?? 0);
}

/** Recovering a backlog may keep `ready` waiting for the recovery buffer. */
const ready = (client: OpenClient, token: string, options: ClientOptions = {}) =>
  connectReady(client, token, { timeoutMs: 30_000, ...options });

async function publishBig(backend: HeraldBackend, user: string, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) await backend.publishStored(user, { n, pad: PAD });
}

/** A client that was ready on `user.<user>` and left before `count` messages were stored. */
async function missed(
  { client, backend }: { client: OpenClient; backend: HeraldBackend },
  user: string,
  count: number,
): Promise<{ epoch: string; since: number }> {
  const first = await ready(client, user);
  first.client.close();
  await publishBig(backend, user, 1, count);
  return { epoch: first.ready.epoch, since: first.ready.positions[`user.${user}`]! };
}

/**
 * Recovery of large backlogs on a real gateway and nats-server: read in pages, written as the
 * socket drains, bounded in memory, and all or nothing.
 */
describe("bounded recovery", () => {
  test.override({
    backendOptions: {
      authorize: (token) =>
        accept({ user: token, channels: token === "gil" ? ["granted"] : token === "hal" ? ["other"] : [] }),
    },
    gatewayOptions: { metrics: true },
  });

  test("answers recovered: false past --recovery-max-messages, and the client stays connected", async ({
    client,
    backend,
  }) => {
    const { epoch, since } = await missed({ client, backend }, "ivy", 900);
    const back = await ready(client, "ivy", { recover: { epoch, since: { "user.ivy": since } } });
    expect(back.ready.recovered).toBe(false);
    await backend.publishStored("ivy", { n: 901 });
    expect(numbers(await back.client.waitForMessages(1))).toEqual([901]);
    expect(back.client.messages()).toHaveLength(1);
    expect(back.client.closed).toBeUndefined();
  });

  test("delivers an allowed backlog many times the socket's bound whole, then live messages", async ({
    client,
    backend,
  }) => {
    const { epoch, since } = await missed({ client, backend }, "jon", 300); // 18 MB against --max-buffered-bytes 1 MiB
    const back = await ready(client, "jon", { recover: { epoch, since: { "user.jon": since } } });
    expect(back.ready.recovered).toBe(true);
    await backend.publishStored("jon", { n: 301 });
    const got = await back.client.waitForMessages(301, 30_000);
    expect(numbers(got)).toEqual(range(1, 301));
    let prev = since;
    for (const frame of got) {
      expect(frame.prev).toBe(prev);
      prev = frame.seq as number;
    }
  });

  test("lets live messages published during a replay follow it, each once", async ({ client, backend }) => {
    const { epoch, since } = await missed({ client, backend }, "kai", 200);
    const back = await ready(client, "kai", { recover: { epoch, since: { "user.kai": since } } });
    expect(back.ready.recovered).toBe(true);
    await publishBig(backend, "kai", 201, 210); // while the replay is being written
    expect(numbers(await back.client.waitForMessages(210, 30_000))).toEqual(range(1, 210));
  });

  test("holds at most --recovery-buffer-bytes while 8 clients recover big backlogs at once", async ({
    client,
    backend,
    startGateway,
  }) => {
    // A recovery buffer of four pages for the whole gateway.
    const small = await startGateway({
      metrics: true,
      recoveryBufferBytes: 4 * 1024 * 1024,
    });
    const users = range(1, 8).map((i) => `lee${i}`);
    const before = await Promise.all(users.map((user) => missed({ client, backend }, user, 250)));
    const backs = await Promise.all(
      users.map((user, i) =>
        ready(client, user, {
          recover: { epoch: before[i]!.epoch, since: { [`user.${user}`]: before[i]!.since } },
          at: small,
        }),
      ),
    );
    for (const back of backs) expect(back.ready.recovered).toBe(true);
    for (const back of backs)
      expect(numbers(await back.client.waitForMessages(250, 60_000))).toEqual(range(1, 250));
    const peak = await metric(small, "herald_recovery_buffered_bytes_peak");
    expect(peak).toBeGreaterThan(1024 * 1024); // several pages were held at once
    expect(peak).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(await metric(small, "herald_recovery_buffered_bytes")).toBe(0);
  });

  test("cuts off with 4429 a client that stops reading while live messages pile up during its replay", async ({
    client,
    backend,
    gateway,
  }) => {
    const { epoch, since } = await missed({ client, backend }, "max", 100);
    const back = await ready(client, "max", { recover: { epoch, since: { "user.max": since } } });
    back.client.socket.pause();
    const cutBefore = await metric(gateway, 'herald_closes_total{code="4429"}');
    // more than --max-buffered-bytes of live messages wait behind the stalled replay
    for (let n = 101; (await metric(gateway, 'herald_closes_total{code="4429"}')) === cutBefore; n++) {
      await backend.publishStored("max", { n, pad: PAD });
    }
    back.client.socket.resume();
    const closed = await back.client.waitClose(30_000);
    expect([4429, 1006]).toContain(closed.code);
  });

  test("cuts off with 4429 a client that answers heartbeats but stops reading its replay", async ({
    client,
    backend,
    startGateway,
  }) => {
    const strict = await startGateway({
      metrics: true,
      heartbeatInterval: 200,
      heartbeatTimeout: 1000,
    });
    const { epoch, since } = await missed({ client, backend }, "ned", 100);
    const back = await ready(client, "ned", { recover: { epoch, since: { "user.ned": since } }, at: strict });
    back.client.socket.pause();
    // A paused socket reads no pings, so answerPings() cannot see them: a pong every 100 ms keeps
    // the connection alive instead (any frame counts as the client being there).
    const alive = setInterval(() => back.client.send({ type: "pong" }), 100);
    try {
      await waitUntil(
        async () => (await metric(strict, 'herald_closes_total{code="4429"}')) > 0,
        "the stalled replay to be cut with 4429",
        { timeoutMs: 30_000, intervalMs: 50 },
      );
    } finally {
      clearInterval(alive);
    }
    back.client.socket.resume();
    expect([4429, 1006]).toContain((await back.client.waitClose(30_000)).code);
  });

  test("never replays a channel the connection was not granted", async ({ client, backend }) => {
    const first = await ready(client, "gil");
    first.client.close();
    await backend.publishStored("gil", { n: 1 });
    await backend.publishToChannel("granted", { n: 2 });
    await backend.publishStored({ channel: "other" }, { n: 3 });
    await backend.publishStored("hal", { n: 4 });
    const position = first.ready.positions["user.gil"]!;
    const since = { "user.gil": position, "channel.other": position, "user.hal": position };
    const back = await ready(client, "gil", { recover: { epoch: first.ready.epoch, since } });
    expect(back.ready.recovered).toBe(true);
    await backend.publishStored("gil", { n: 5 });
    expect(numbers(await back.client.waitForMessages(2))).toEqual([1, 5]);
  });
});
