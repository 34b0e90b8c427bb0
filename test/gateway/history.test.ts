import { describe, expect } from "vitest";
import type { HeraldBackend } from "../../src/backend/index.js";
import type { ReceivedFrame } from "../../src/testing/index.js";
import { connectReady, test } from "../fixtures.js";

const numbers = (frames: ReceivedFrame[]) => frames.map((f) => (f.data as { n: number }).n);

async function publishNumbers(backend: HeraldBackend, user: string, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) await backend.publishStored(user, { n });
}

/** History on JetStream: sequences on live frames, replay on reconnect, and honest `recovered`. */
describe("history and recovery", () => {
  test.override({ gatewayOptions: { historyMaxPerSubject: 5 } });

  test("replays what a client missed, in order, then continues live with no gap or duplicate", async ({
    client,
    backend,
  }) => {
    const first = await connectReady(client, "rita");
    // an empty channel's position is the stream's last sequence at join time
    expect(Object.keys(first.ready.positions)).toEqual(["user.rita"]);
    await publishNumbers(backend, "rita", 1, 2);
    const live = await first.client.waitForMessages(2);
    const lastSeq = live[1]?.seq as number;
    expect(live[1]?.prev).toBe(live[0]?.seq);
    expect(live[0]?.seq as number).toBeGreaterThan(first.ready.positions["user.rita"] as number);
    first.client.close();

    await publishNumbers(backend, "rita", 3, 5); // while away
    const back = await connectReady(client, "rita", {
      recover: { epoch: first.ready.epoch, since: { "user.rita": lastSeq } },
    });
    expect(back.ready.recovered).toBe(true);
    await publishNumbers(backend, "rita", 6, 7); // live again
    const got = await back.client.waitForMessages(5);
    expect(numbers(got)).toEqual([3, 4, 5, 6, 7]);
    // the prev chain is unbroken from the client's own position
    let prev = lastSeq;
    for (const frame of got) {
      expect(frame.prev).toBe(prev);
      prev = frame.seq as number;
    }
  });

  test("says recovered: false when retention dropped messages the client missed", async ({
    client,
    backend,
  }) => {
    const first = await connectReady(client, "sam");
    await publishNumbers(backend, "sam", 1, 1);
    const [m] = await first.client.waitForMessages(1);
    first.client.close();
    await publishNumbers(backend, "sam", 2, 9); // max 5 per subject: 1..4 are gone
    const back = await connectReady(client, "sam", {
      recover: { epoch: first.ready.epoch, since: { "user.sam": m?.seq } },
    });
    expect(back.ready.recovered).toBe(false);
    expect(back.ready.positions["user.sam"]).toBeGreaterThan(m?.seq as number);
    // nothing partial is replayed; live delivery continues from the position
    await publishNumbers(backend, "sam", 10, 10);
    expect(numbers(await back.client.waitForMessages(1))).toEqual([10]);
    expect(back.client.messages()).toHaveLength(1);
  });

  test("says recovered: false for another stream epoch", async ({ client }) => {
    const back = await connectReady(client, "tom", { recover: { epoch: "12345", since: { "user.tom": 3 } } });
    expect(back.ready.recovered).toBe(false);
  });

  test("gives a fresh connection its position, so it can recover later even with no message yet", async ({
    client,
    backend,
  }) => {
    await publishNumbers(backend, "uma", 1, 2);
    const first = await connectReady(client, "uma");
    const position = first.ready.positions["user.uma"];
    expect(position).toBeGreaterThan(0);
    first.client.close();
    await publishNumbers(backend, "uma", 3, 3);
    const back = await connectReady(client, "uma", {
      recover: { epoch: first.ready.epoch, since: { "user.uma": position } },
    });
    expect(back.ready.recovered).toBe(true);
    expect(numbers(await back.client.waitForMessages(1))).toEqual([3]);
  });

  test("says recovered: false when a channel that was empty at join lost messages to its limit", async ({
    client,
    backend,
  }) => {
    const first = await connectReady(client, "vic");
    const position = first.ready.positions["user.vic"];
    first.client.close();
    await publishNumbers(backend, "vic", 1, 7); // max 5 per subject: 1 and 2 are gone
    const back = await connectReady(client, "vic", {
      recover: { epoch: first.ready.epoch, since: { "user.vic": position } },
    });
    expect(back.ready.recovered).toBe(false);
  });

  test("recovers a channel that was empty at join when nothing was dropped", async ({ client, backend }) => {
    const first = await connectReady(client, "wes");
    const position = first.ready.positions["user.wes"];
    first.client.close();
    await publishNumbers(backend, "wes", 1, 3);
    const back = await connectReady(client, "wes", {
      recover: { epoch: first.ready.epoch, since: { "user.wes": position } },
    });
    expect(back.ready.recovered).toBe(true);
    expect(numbers(await back.client.waitForMessages(3))).toEqual([1, 2, 3]);
  });
});
