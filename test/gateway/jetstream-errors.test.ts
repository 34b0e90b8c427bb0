import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import { isJetStreamBusy, isJetStreamError, JetStreamErrorCode } from "../../src/gateway/jetstream-errors.js";
import { test } from "../fixtures.js";

/** The JetStream answers the gateway acts on, as a real nats-server gives them, told apart by code. */
describe("JetStream API errors", () => {
  test("are told apart by their err_code", async ({ nats }) => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const missing = await jsm.streams.info("NO_SUCH_STREAM").catch((err: unknown) => err);
      expect(isJetStreamError(missing, JetStreamErrorCode.StreamNotFound)).toBe(true);
      expect(isJetStreamError(missing, JetStreamErrorCode.StreamNameInUse)).toBe(false);

      await jsm.streams.add({ name: "TAKEN", subjects: ["taken.a"] });
      const inUse = await jsm.streams.add({ name: "TAKEN", subjects: ["taken.b"] }).catch((err) => err);
      expect(isJetStreamError(inUse, JetStreamErrorCode.StreamNameInUse)).toBe(true);

      const replicas = await jsm.streams
        .add({ name: "REPLICATED", subjects: ["replicated"], num_replicas: 3 })
        .catch((err: unknown) => err);
      expect(isJetStreamError(replicas, JetStreamErrorCode.ReplicasNotSupported)).toBe(true);
      expect(isJetStreamBusy(replicas)).toBe(false);
    } finally {
      await nc.close();
    }
  });

  test("count a request nobody answered in time as busy, and nothing else", async ({ nats }) => {
    const nc = await connect({ servers: nats.url });
    try {
      nc.subscribe("silent.service", { callback: () => undefined });
      const timedOut = await nc.request("silent.service", "", { timeout: 50 }).catch((err) => err);
      expect(isJetStreamBusy(timedOut)).toBe(true);
      expect(isJetStreamBusy(new Error("timeout"))).toBe(false);
    } finally {
      await nc.close();
    }
  });
});
