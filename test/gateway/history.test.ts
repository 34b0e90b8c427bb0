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

const numbers = (frames: ReceivedFrame[]) => frames.map((f) => (f.data as { n: number }).n);

/** History on JetStream: sequences on live frames, replay on reconnect, and honest `recovered`. */
describe("history and recovery", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let gateway: RunningGateway;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    backend = await HeraldBackend.connect({ servers: nats.url });
    backend.serveAuth((token) => accept({ user: token }));
    gateway = await startTestGateway(nats, { history: true, historyMaxPerSubject: 5 });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await gateway?.close();
    await backend?.close();
    await nats?.stop();
  });

  async function ready(token: string, recover?: unknown): Promise<{ client: TestClient; ready: Ready }> {
    const client = await TestClient.open(gateway.url);
    clients.push(client);
    client.send(recover ? { type: "auth", token, recover } : { type: "auth", token });
    const frame = await client.next();
    expect(frame.type).toBe("ready");
    return { client, ready: frame as unknown as Ready };
  }

  async function publishNumbers(user: string, from: number, to: number): Promise<void> {
    for (let n = from; n <= to; n++) await backend.publishStored(user, { n });
  }

  it("replays what a client missed, in order, then continues live with no gap or duplicate", async () => {
    const first = await ready("rita");
    // an empty channel's position is the stream's last sequence at join time
    expect(Object.keys(first.ready.positions)).toEqual(["user.rita"]);
    await publishNumbers("rita", 1, 2);
    const live = await first.client.waitForMessages(2);
    const lastSeq = live[1]?.seq as number;
    expect(live[1]?.prev).toBe(live[0]?.seq);
    expect(live[0]?.seq as number).toBeGreaterThan(first.ready.positions["user.rita"] as number);
    first.client.close();

    await publishNumbers("rita", 3, 5); // while away
    const back = await ready("rita", { epoch: first.ready.epoch, since: { "user.rita": lastSeq } });
    expect(back.ready.recovered).toBe(true);
    await publishNumbers("rita", 6, 7); // live again
    const got = await back.client.waitForMessages(5);
    expect(numbers(got)).toEqual([3, 4, 5, 6, 7]);
    // the prev chain is unbroken from the client's own position
    let prev = lastSeq;
    for (const frame of got) {
      expect(frame.prev).toBe(prev);
      prev = frame.seq as number;
    }
  });

  it("says recovered: false when retention dropped messages the client missed", async () => {
    const first = await ready("sam");
    await publishNumbers("sam", 1, 1);
    const [m] = await first.client.waitForMessages(1);
    first.client.close();
    await publishNumbers("sam", 2, 9); // max 5 per subject: 1..4 are gone
    const back = await ready("sam", { epoch: first.ready.epoch, since: { "user.sam": m?.seq } });
    expect(back.ready.recovered).toBe(false);
    expect(back.ready.positions["user.sam"]).toBeGreaterThan(m?.seq as number);
    // nothing partial is replayed; live delivery continues from the position
    await publishNumbers("sam", 10, 10);
    expect(numbers(await back.client.waitForMessages(1))).toEqual([10]);
    expect(back.client.messages()).toHaveLength(1);
  });

  it("says recovered: false for another stream epoch", async () => {
    const back = await ready("tom", { epoch: "12345", since: { "user.tom": 3 } });
    expect(back.ready.recovered).toBe(false);
  });

  it("gives a fresh connection its position, so it can recover later even with no message yet", async () => {
    await publishNumbers("uma", 1, 2);
    const first = await ready("uma");
    const position = first.ready.positions["user.uma"];
    expect(position).toBeGreaterThan(0);
    first.client.close();
    await publishNumbers("uma", 3, 3);
    const back = await ready("uma", { epoch: first.ready.epoch, since: { "user.uma": position } });
    expect(back.ready.recovered).toBe(true);
    expect(numbers(await back.client.waitForMessages(1))).toEqual([3]);
  });

  it("says recovered: false when a channel that was empty at join lost messages to its limit", async () => {
    const first = await ready("vic");
    const position = first.ready.positions["user.vic"];
    first.client.close();
    await publishNumbers("vic", 1, 7); // max 5 per subject: 1 and 2 are gone
    const back = await ready("vic", { epoch: first.ready.epoch, since: { "user.vic": position } });
    expect(back.ready.recovered).toBe(false);
  });

  it("recovers a channel that was empty at join when nothing was dropped", async () => {
    const first = await ready("wes");
    const position = first.ready.positions["user.wes"];
    first.client.close();
    await publishNumbers("wes", 1, 3);
    const back = await ready("wes", { epoch: first.ready.epoch, since: { "user.wes": position } });
    expect(back.ready.recovered).toBe(true);
    expect(numbers(await back.client.waitForMessages(3))).toEqual([1, 2, 3]);
  });
});
