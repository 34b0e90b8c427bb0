import { describe, expect } from "vitest";
import type { HeraldBackend, StoredConnectionEvent } from "../../src/backend/index.js";
import { type RawBackend, type TestClient, waitUntil } from "../../src/testing/index.js";
import { rawTest as test } from "../fixtures.js";

/**
 * Connection events on a real nats-server: what a gateway stores for each connection, and a
 * backend's durable consumer (the `publisher`'s connection) reading them across its own restart.
 */
test.override({
  gatewayOptions: { history: false, events: true, livenessTimeout: 2000, eventsDuplicateWindow: 10 },
});

/** Every event a durable consumer gets until `until` holds; stopped then. */
async function collectEvents(
  backend: HeraldBackend,
  durable: string,
  until: (events: StoredConnectionEvent[]) => boolean,
  kinds?: ("connected" | "disconnected" | "subscribed" | "unsubscribed")[],
): Promise<StoredConnectionEvent[]> {
  const events: StoredConnectionEvent[] = [];
  const subscription = await backend.onEvent((event) => void events.push(event), {
    durable,
    ...(kinds ? { kinds } : {}),
  });
  await waitUntil(() => until(events), `events for ${durable}`, { timeoutMs: 15_000 });
  await subscription.stop();
  return events;
}

function grant(auth: RawBackend, user: string, reply: Record<string, unknown>): void {
  auth.replies.set(user, JSON.stringify({ ok: true, user, ...reply }));
}

describe("connection events", () => {
  test("stores connected, subscribed for each shared channel granted at auth, and disconnected", async ({
    backend: auth,
    publisher: backend,
    gateway,
    client: connect,
  }) => {
    grant(auth, "ev-alice", { channels: ["room", "news"] });
    const client = await connect("ev-alice");
    const ready = await waitForReady(client);
    client.socket.close(1000);
    const events = await collectEvents(backend, "ev-alice", (all) =>
      mine(all, "ev-alice").some((e) => e.kind === "disconnected"),
    );
    const alice = mine(events, "ev-alice");
    expect(alice.map((e) => [e.kind, e.channel])).toEqual([
      ["connected", undefined],
      ["subscribed", "channel.room"],
      ["subscribed", "channel.news"],
      ["disconnected", undefined],
    ]);
    for (const event of alice) {
      expect(event.connection).toBe(ready.connection);
      expect(event.gateway).toBe(gateway.id);
      expect(typeof event.time).toBe("number");
    }
    const disconnected = alice[3] as StoredConnectionEvent;
    expect([disconnected.code, disconnected.clean]).toEqual([1000, true]);
    expect(new Set(alice.map((e) => e.id)).size).toBe(4);
  });

  test("says how a connection ended: dropped, or closed by the gateway with its error code", async ({
    publisher: backend,
    client,
  }) => {
    const dropped = await client("ev-drop");
    dropped.close(); // no close frame
    const refused = await client("ev-bad");
    refused.send("not json");
    await refused.waitClose();
    const events = await collectEvents(backend, "ev-ends", (all) =>
      ["ev-drop", "ev-bad"].every((user) => mine(all, user).some((e) => e.kind === "disconnected")),
    );
    const ends = events.filter((e) => e.kind === "disconnected");
    expect(ends.find((e) => e.user === "ev-drop")).toMatchObject({ code: 1006, clean: false });
    expect(ends.find((e) => e.user === "ev-bad")).toMatchObject({
      code: 4400,
      clean: false,
      reason: "INVALID_JSON",
    });
  });

  test("a consumer stopped and restarted in the middle receives every event exactly once, in order", async ({
    publisher: backend,
    client,
  }) => {
    const users = Array.from({ length: 30 }, (_, i) => `ev-many-${i}`);
    const churn = (async () => {
      for (const user of users) {
        const churned = await client(user);
        churned.socket.close(1000);
        await churned.waitClose();
      }
    })();
    const seen: StoredConnectionEvent[] = [];
    const first = await backend.onEvent((event) => void seen.push(event), { durable: "ev-restart" });
    // Stopped while the churn is still producing events.
    await waitUntil(() => mine(seen, "ev-many-").length >= 15, "the first half");
    await first.stop();
    const atStop = seen.length;
    await churn;
    const second = await backend.onEvent((event) => void seen.push(event), { durable: "ev-restart" });
    await waitUntil(
      () => mine(seen, "ev-many-").filter((e) => e.kind === "disconnected").length === users.length,
      "every disconnect",
      { timeoutMs: 15_000 },
    );
    await second.stop();
    expect(seen.length).toBeGreaterThan(atStop);
    // Exactly the stream, in its order: every sequence once, increasing with no gap.
    const stored = await readStream(backend);
    expect(seen.map((e) => e.seq)).toEqual(stored.slice(0, seen.length));
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    for (const user of users)
      expect(seen.filter((e) => e.user === user).map((e) => e.kind)).toEqual(["connected", "disconnected"]);
  });
});

function mine(events: readonly StoredConnectionEvent[], prefix: string): StoredConnectionEvent[] {
  return events.filter((event) => event.user.startsWith(prefix));
}

async function waitForReady(client: TestClient): Promise<{ connection: string }> {
  const ready = client.frames.find((frame) => frame.type === "ready");
  return ready as unknown as { connection: string };
}

/** The stream's sequences, as stored (its first up to its last: nothing is deleted in this test). */
async function readStream(backend: HeraldBackend): Promise<number[]> {
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const info = await (await jetstreamManager(backend.connection)).streams.info("HERALD_EVENTS");
  return Array.from(
    { length: info.state.last_seq - info.state.first_seq + 1 },
    (_, i) => info.state.first_seq + i,
  );
}
