import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import type { HeraldBackend } from "../../src/backend/index.js";
import { pollFor, type ReceivedFrame } from "../../src/testing/index.js";
import { connectReady, test } from "../fixtures.js";

async function firstSequence(url: string, stream: string): Promise<number> {
  const nc = await connect({ servers: url });
  try {
    return (await (await jetstreamManager(nc)).streams.info(stream)).state.first_seq;
  } finally {
    await nc.close();
  }
}

const numbers = (frames: ReceivedFrame[]) => frames.map((f) => (f.data as { n: number }).n);

async function publishNumbers(backend: HeraldBackend, user: string, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) await backend.publishStored(user, { n });
}

/**
 * `recovered` when the stream's first sequence moved past a client's position without anything of
 * its channels going: the per-subject limit dropping the oldest position markers of a busy gateway.
 * Each describe has a stream of its own (its own prefix), so its first sequence is its own.
 */
describe("recovery and the stream's age", () => {
  describe("a stream younger than its max age", () => {
    test.override({
      gatewayOptions: { historyMaxPerSubject: 5, prefix: "young", historyStream: "YOUNG" },
      backendOptions: { prefix: "young" },
    });

    test("recovers past markers dropped by the per-subject limit", async ({ client, backend, nats }) => {
      const first = await connectReady(client, "xena");
      const position = first.ready.positions["user.xena"] as number;
      first.client.close();
      // Each join of its own turn stores a marker: eight of them drop the oldest ones, and with
      // them every message up to `position`, so the stream's first sequence passes it.
      for (let i = 0; i < 8; i++) (await connectReady(client, `other-${i}`)).client.close();
      await publishNumbers(backend, "xena", 1, 2);
      expect(await firstSequence(nats.url, "YOUNG")).toBeGreaterThan(position + 1);
      const back = await connectReady(client, "xena", {
        recover: { epoch: first.ready.epoch, since: { "user.xena": position } },
      });
      expect(back.ready.recovered).toBe(true);
      expect(numbers(await back.client.waitForMessages(2))).toEqual([1, 2]);
    });
  });

  describe("a stream older than its max age", () => {
    test.override({
      gatewayOptions: { historyMaxAge: 2, prefix: "aged", historyStream: "AGED" },
      backendOptions: { prefix: "aged" },
    });

    test("says recovered: false when age dropped a message the client missed", async ({
      client,
      backend,
      nats,
    }) => {
      const first = await connectReady(client, "yuri");
      const position = first.ready.positions["user.yuri"] as number;
      first.client.close();
      await publishNumbers(backend, "yuri", 1, 1);
      // The message's 2 s go by, and with it everything up to it: the stream is past its age.
      await pollFor(
        async () => ((await firstSequence(nats.url, "AGED")) > position + 1 ? true : undefined),
        "the missed message to expire",
        { timeoutMs: 15_000, intervalMs: 200 },
      );
      await publishNumbers(backend, "yuri", 2, 2);
      const back = await connectReady(client, "yuri", {
        recover: { epoch: first.ready.epoch, since: { "user.yuri": position } },
      });
      expect(back.ready.recovered).toBe(false);
      await publishNumbers(backend, "yuri", 3, 3);
      expect(numbers(await back.client.waitForMessages(1))).toEqual([3]);
    });
  });
});
