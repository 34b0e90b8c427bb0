import { connect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import { pollFor } from "../../src/testing/index.js";
import { connectReady, test } from "../fixtures.js";
import { recordWrites } from "../socket-writes.js";

/**
 * A socket's frames of one read from NATS leave in one write: when the gateway falls behind, each
 * read holds several messages, and one system call per socket for all of them is what lets it
 * catch up (nats-server's own write loop does the same).
 */
describe("writes to a client socket", () => {
  test.override({ gatewayOptions: { history: false } });

  test("carry the frames of a burst from NATS in fewer writes than frames, all in order", async ({
    gateway,
    client,
    nats,
  }) => {
    const { client: reader } = await connectReady(client, "burst");
    const recorded = recordWrites(gateway.port);
    const publisher = await connect({ servers: nats.url });
    try {
      // One flush of 200 messages: nats-server passes them on in a few reads of the gateway.
      for (let n = 0; n < 200; n++) publisher.publish("herald.user.burst", JSON.stringify({ n }));
      await publisher.flush();
      const got = await reader.waitForMessages(200);
      expect(got.map((f) => (f.data as { n: number }).n)).toEqual(Array.from({ length: 200 }, (_, n) => n));
      const carrying = await pollFor(
        () => {
          const writes = recorded.writes.filter((w) => w.includes('"type":"message"'));
          const frames = writes.reduce((sum, w) => sum + w.split('"type":"message"').length - 1, 0);
          return frames === 200 ? writes.length : undefined;
        },
        "every message frame's write to be seen",
        { timeoutMs: 5000, intervalMs: 20 },
      );
      expect(carrying).toBeLessThan(200);
    } finally {
      recorded.stop();
      await publisher.close();
    }
  });
});
