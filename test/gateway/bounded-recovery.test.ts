import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import {
  type NatsServer,
  type ReceivedFrame,
  startNats,
  startTestGateway,
  TestClient,
} from "../../src/testing/index.js";

interface Ready {
  epoch: string;
  positions: Record<string, number>;
  recovered?: boolean;
}

const PAD = "x".repeat(60_000); // a 60 KB message
const numbers = (frames: ReceivedFrame[]) => frames.map((f) => (f.data as { n: number }).n);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Reads a metric of the gateway's /metrics. */
async function metric(gateway: RunningGateway, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1] ?? 0);
}

/**
 * Recovery of large backlogs on a real gateway and nats-server: read in pages, written as the
 * socket drains, bounded in memory, and all or nothing.
 */
describe("bounded recovery", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let gateway: RunningGateway;
  let small: RunningGateway;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    backend = await HeraldBackend.connect({ servers: nats.url });
    backend.serveAuth((token) =>
      accept({ user: token, channels: token === "gil" ? ["granted"] : token === "hal" ? ["other"] : [] }),
    );
    gateway = await startTestGateway(nats, { history: true, metrics: true });
    // A recovery buffer of four pages for the whole gateway.
    small = await startTestGateway(nats, {
      history: true,
      metrics: true,
      recoveryBufferBytes: 4 * 1024 * 1024,
    });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await gateway?.close();
    await small?.close();
    await backend?.close();
    await nats?.stop();
  });

  async function ready(
    token: string,
    recover?: unknown,
    at: RunningGateway = gateway,
  ): Promise<{ client: TestClient; ready: Ready }> {
    const client = await TestClient.open(at.url);
    clients.push(client);
    client.send(recover ? { type: "auth", token, recover } : { type: "auth", token });
    const frame = await client.next("ready", 30_000);
    return { client, ready: frame as unknown as Ready };
  }

  async function publishBig(user: string, from: number, to: number): Promise<void> {
    for (let n = from; n <= to; n++) await backend.publishStored(user, { n, pad: PAD });
  }

  /** A client that was ready on `user.<user>` and left before `count` messages were stored. */
  async function missed(user: string, count: number): Promise<{ epoch: string; since: number }> {
    const first = await ready(user);
    first.client.close();
    await publishBig(user, 1, count);
    return { epoch: first.ready.epoch, since: first.ready.positions[`user.${user}`]! };
  }

  it("answers recovered: false past --recovery-max-messages, and the client stays connected", async () => {
    const { epoch, since } = await missed("ivy", 900);
    const back = await ready("ivy", { epoch, since: { "user.ivy": since } });
    expect(back.ready.recovered).toBe(false);
    await backend.publishStored("ivy", { n: 901 });
    expect(numbers(await back.client.waitForMessages(1))).toEqual([901]);
    expect(back.client.messages()).toHaveLength(1);
    expect(back.client.closed).toBeUndefined();
  });

  it("delivers an allowed backlog many times the socket's bound whole, then live messages", async () => {
    const { epoch, since } = await missed("jon", 300); // 18 MB against --max-buffered-bytes 1 MiB
    const back = await ready("jon", { epoch, since: { "user.jon": since } });
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

  it("lets live messages published during a replay follow it, each once", async () => {
    const { epoch, since } = await missed("kai", 200);
    const back = await ready("kai", { epoch, since: { "user.kai": since } });
    expect(back.ready.recovered).toBe(true);
    await publishBig("kai", 201, 210); // while the replay is being written
    expect(numbers(await back.client.waitForMessages(210, 30_000))).toEqual(range(1, 210));
  });

  it("holds at most --recovery-buffer-bytes while 8 clients recover big backlogs at once", async () => {
    const users = range(1, 8).map((i) => `lee${i}`);
    const before = await Promise.all(users.map((user) => missed(user, 250)));
    const backs = await Promise.all(
      users.map((user, i) =>
        ready(user, { epoch: before[i]!.epoch, since: { [`user.${user}`]: before[i]!.since } }, small),
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

  it("cuts off with 4429 a client that stops reading while live messages pile up during its replay", async () => {
    const { epoch, since } = await missed("max", 100);
    const back = await ready("max", { epoch, since: { "user.max": since } });
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

  it("cuts off with 4429 a client that answers heartbeats but stops reading its replay", async () => {
    const strict = await startTestGateway(nats, {
      history: true,
      metrics: true,
      heartbeatInterval: 200,
      heartbeatTimeout: 1000,
    });
    try {
      const { epoch, since } = await missed("ned", 100);
      const back = await ready("ned", { epoch, since: { "user.ned": since } }, strict);
      back.client.socket.pause();
      const alive = setInterval(() => back.client.send({ type: "pong" }), 100);
      const cut = () => metric(strict, 'herald_closes_total{code="4429"}');
      while ((await cut()) === 0) await new Promise((r) => setTimeout(r, 50));
      clearInterval(alive);
      back.client.socket.resume();
      expect([4429, 1006]).toContain((await back.client.waitClose(30_000)).code);
    } finally {
      await strict.close();
    }
  });

  it("never replays a channel the connection was not granted", async () => {
    const first = await ready("gil");
    first.client.close();
    await backend.publishStored("gil", { n: 1 });
    await backend.publishToChannel("granted", { n: 2 });
    await backend.publishStored({ channel: "other" }, { n: 3 });
    await backend.publishStored("hal", { n: 4 });
    const position = first.ready.positions["user.gil"]!;
    const since = { "user.gil": position, "channel.other": position, "user.hal": position };
    const back = await ready("gil", { epoch: first.ready.epoch, since });
    expect(back.ready.recovered).toBe(true);
    await backend.publishStored("gil", { n: 5 });
    expect(numbers(await back.client.waitForMessages(2))).toEqual([1, 5]);
  });
});
