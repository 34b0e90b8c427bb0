import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import { RequestMux } from "../../src/nats/request-mux.js";
import { GaveUpError, PublishRefusedError, StoredPublisher } from "../../src/nats/stored-publish.js";
import { test } from "../fixtures.js";

/** The one stored-publish loop, as the gateway's registry (request mux) and the backend SDK (client request) drive it. */
describe("StoredPublisher", () => {
  test("refuses a message over max_payload at once instead of sending it again", async ({ nats }) => {
    const nc = await connect({ servers: nats.url });
    const mux = new RequestMux(nc);
    try {
      await (await jetstreamManager(nc)).streams.add({ name: "BIG", subjects: ["big.>"] });
      const tooBig = new Uint8Array(2 * 1024 * 1024);
      for (const publisher of [new StoredPublisher(nc, mux), new StoredPublisher(nc)]) {
        const retries: string[] = [];
        const error = await publisher
          .publish("big.a", tooBig, {
            msgId: "big",
            keepTrying: () => retries.length < 3,
            onRetry: (why) => retries.push(why),
          })
          .catch((err: unknown) => err);
        expect(error).toBeInstanceOf(PublishRefusedError);
        expect((error as Error).message).toMatch(/^big\.a: .*max_payload/);
        expect(retries).toEqual([]);
      }
    } finally {
      mux.close();
      await nc.close();
    }
  });

  test("keeps trying while no stream answers, until keepTrying says stop", async ({ nats }) => {
    const nc = await connect({ servers: nats.url });
    const mux = new RequestMux(nc);
    try {
      const retries: string[] = [];
      const error = await new StoredPublisher(nc, mux)
        .publish("nowhere.a", new Uint8Array(), {
          msgId: "lost",
          keepTrying: () => retries.length < 3,
          onRetry: (why) => retries.push(why),
        })
        .catch((err: unknown) => err);
      expect(error).toBeInstanceOf(GaveUpError);
      expect(error).toMatchObject({ closed: false, subject: "nowhere.a" });
      expect(retries).toEqual(["no_responders", "no_responders", "no_responders"]);
    } finally {
      mux.close();
      await nc.close();
    }
  });

  test("gives up saying the connection closed", async ({ nats }) => {
    const nc = await connect({ servers: nats.url });
    await nc.close();
    const error = await new StoredPublisher(nc)
      .publish("anywhere.a", new Uint8Array(), { msgId: "late", keepTrying: () => true })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(GaveUpError);
    expect(error).toMatchObject({ closed: true, message: "anywhere.a: the NATS connection is closed" });
  });
});
