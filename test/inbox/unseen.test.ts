import { describe, expect } from "vitest";
import type { StoredUnseenEvent } from "../../src/backend/index.js";
import { pollFor, waitUntil } from "../../src/testing/index.js";
import { test as base } from "../fixtures.js";

/**
 * "Not seen in time": with `--inbox-unseen-after`, a notification no connection of its user marked
 * seen within that time gives exactly one durable `unseen` event, through one consumer every
 * gateway shares: also for a user who never connected, with two gateways pulling, and when no
 * gateway ran at the moment it came due.
 */
/** The unseen events a backend reads, once `listen()` made its durable consumer (after a gateway made the stream). */
interface Unseen {
  readonly events: StoredUnseenEvent[];
  listen(): Promise<void>;
}

const test = base.extend<{ unseen: Unseen }>({
  unseen: async ({ backend, task }, use) => {
    const events: StoredUnseenEvent[] = [];
    const durable = `t-${task.id.replace(/[^A-Za-z0-9_-]/g, "")}`.slice(0, 60);
    let subscription: Awaited<ReturnType<typeof backend.onUnseen>> | undefined;
    await use({
      events,
      async listen() {
        subscription = await backend.onUnseen((event) => void events.push(event), { durable, start: "new" });
      },
    });
    await subscription?.stop();
  },
});
const UNSEEN = { inbox: true, inboxUnseenAfter: 1 };

/** Waits until a notification's event is stored, then until one sent after it is: nothing more comes for the first. */
async function settledAfter(events: StoredUnseenEvent[], notify: () => Promise<number>): Promise<void> {
  const marker = await notify();
  await pollFor(() => events.find((e) => e.notification === marker), "the marker's unseen event", {
    timeoutMs: 15_000,
  });
}

describe("unseen notifications", () => {
  test("a user who never connected gets exactly one unseen event per notification, with two gateways pulling", async ({
    startGateway,
    backend,
    unseen,
  }) => {
    await startGateway(UNSEEN);
    await startGateway(UNSEEN);
    const { events } = unseen;
    await unseen.listen();
    const sent = await backend.notify("x-never", { subject: "your order shipped" });
    const event = await pollFor(() => events.find((e) => e.notification === sent.id), "the unseen event", {
      timeoutMs: 15_000,
    });
    expect(event).toMatchObject({
      id: expect.stringMatching(/^unseen:\d+:\d+$/),
      kind: "unseen",
      user: "x-never",
      notification: sent.id,
      notified: expect.any(Number),
      gateway: expect.any(String),
    });
    expect(event.time - event.notified).toBeGreaterThanOrEqual(1000);
    await settledAfter(events, async () => (await backend.notify("x-marker", "later")).id);
    expect(events.filter((e) => e.notification === sent.id)).toHaveLength(1);
  });

  test("a notification marked seen (or read) in time gives no event", async ({
    startGateway,
    client,
    backend,
    unseen,
  }) => {
    const gateway = await startGateway(UNSEEN);
    const { events } = unseen;
    await unseen.listen();
    const c = await client("x-seer", { at: gateway });
    await c.next("inbox");
    const seen = await backend.notify("x-seer", "look");
    const read = await backend.notify("x-seer", "read me");
    await c.next("notification");
    c.send({ type: "inbox_mark", id: 1, ids: [seen.id], state: "seen" });
    c.send({ type: "inbox_mark", id: 2, ids: [read.id], state: "read" });
    await waitUntil(() => c.frames.filter((f) => f.type === "inbox_marked").length === 2, "both marks");
    const missed = await backend.notify("x-seer", "not looked at");
    await settledAfter(events, async () => missed.id);
    expect(events.map((e) => e.notification)).toEqual([missed.id]);
  });

  test("a notification that came due while no gateway ran gives its event once one starts", async ({
    startGateway,
    backend,
    unseen,
  }) => {
    const first = await startGateway(UNSEEN);
    const { events } = unseen;
    await unseen.listen();
    // Taken by the first gateway and handed back to wait for its time; then that gateway stops.
    const before = await backend.notify("x-restart", "before the stop");
    await new Promise((resolve) => setTimeout(resolve, 200));
    await first.close();
    const sent = await backend.notify("x-restart", "while down");
    // Past their time with no gateway at all.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(events).toHaveLength(0);
    await startGateway(UNSEEN);
    for (const id of [before.id, sent.id])
      await pollFor(() => events.find((e) => e.notification === id), "the unseen events after the restart", {
        timeoutMs: 15_000,
      });
    await settledAfter(events, async () => (await backend.notify("x-restart", "marker")).id);
    expect(events.filter((e) => e.notification === before.id)).toHaveLength(1);
    expect(events.filter((e) => e.notification === sent.id)).toHaveLength(1);
  });
});
