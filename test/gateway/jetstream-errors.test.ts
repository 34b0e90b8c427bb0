import { JetStreamApiError, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import { HeraldBackend, HeraldBackendError } from "../../src/backend/index.js";
import {
  isJetStreamBusy,
  isJetStreamError,
  isWrongLastSequence,
  JetStreamErrorCode,
} from "../../src/nats/jetstream-errors.js";
import { RequestMux } from "../../src/nats/request-mux.js";
import { StoredPublisher, WrongRevisionError } from "../../src/nats/stored-publish.js";
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

  test("tell a missing consumer from a missing stream", async ({ nats }) => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "HAS_NO_CONSUMER", subjects: ["no.consumer"] });
      const noConsumer = await jsm.consumers.info("HAS_NO_CONSUMER", "absent").catch((err) => err);
      expect(isJetStreamError(noConsumer, JetStreamErrorCode.ConsumerNotFound)).toBe(true);
      expect(isJetStreamError(noConsumer, JetStreamErrorCode.StreamNotFound)).toBe(false);
      const noStream = await jsm.consumers.info("NO_SUCH_STREAM", "absent").catch((err) => err);
      expect(isJetStreamError(noStream, JetStreamErrorCode.StreamNotFound)).toBe(true);
      expect(isJetStreamError(noStream, JetStreamErrorCode.ConsumerNotFound)).toBe(false);
    } finally {
      await nc.close();
    }
  });

  test("say a write whose expected last sequence did not hold was beaten to it", async ({ nats }) => {
    const nc = await connect({ servers: nats.url });
    // The gateway's registry sends through its request mux, the backend SDK through the client's request.
    const mux = new RequestMux(nc);
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "REVISIONS", subjects: ["revisions.>"] });
      const first = await jetstream(nc).publish("revisions.a", "one");
      const stale = await jetstream(nc)
        .publish("revisions.a", "two", { expect: { lastSubjectSequence: first.seq + 5 } })
        .catch((err: unknown) => err);
      expect(stale).toBeInstanceOf(JetStreamApiError);
      expect(isWrongLastSequence((stale as JetStreamApiError).code)).toBe(true);
      expect(isWrongLastSequence(JetStreamErrorCode.StreamNotFound)).toBe(false);

      let revision = first.seq;
      for (const publisher of [new StoredPublisher(nc, mux), new StoredPublisher(nc)]) {
        const write = (expectRevision: number, msgId: string) =>
          publisher.publish("revisions.a", new TextEncoder().encode(msgId), {
            msgId,
            expectRevision,
            keepTrying: () => true,
          });
        await expect(write(revision + 5, `stale-${revision}`)).rejects.toBeInstanceOf(WrongRevisionError);
        const current = await write(revision, `current-${revision}`);
        expect(current).toMatchObject({ stream: "REVISIONS", seq: revision + 1, duplicate: false });
        // A retry of a stored write is a duplicate, not a conflict: the msgId is checked first.
        await expect(write(revision, `current-${revision}`)).resolves.toEqual({
          ...current,
          duplicate: true,
        });
        revision = current.seq;
      }
    } finally {
      mux.close();
      await nc.close();
    }
  });

  test("a backend's events read without an events stream is NO_STREAM", async ({ nats }) => {
    const backend = await HeraldBackend.connect({ servers: nats.url });
    try {
      const error = await backend
        .onEvent(() => undefined, { durable: "errors", stream: "NO_EVENTS_HERE" })
        .catch((err: unknown) => err);
      expect(error).toBeInstanceOf(HeraldBackendError);
      expect(error).toMatchObject({ code: "NO_STREAM" });
      expect((error as Error).message).toMatch(/no events stream NO_EVENTS_HERE/);
    } finally {
      await backend.close();
    }
  });
});
