import { describe, expect } from "vitest";
import { pollFor, type ReceivedFrame, type TestClient } from "../../src/testing/index.js";
import { test as base } from "../fixtures.js";

/**
 * A notification that leaves the inbox by retention — older than `--inbox-max-age`, or the oldest of
 * a user past `--inbox-max-per-user` — changes the count of every connection of the user on every
 * gateway that holds them, at once and once: an `inbox` frame with the new count, `changed` saying
 * `{"state":"expired","upTo":<id>}` (every notification of the user up to that id left). The
 * backend's count and pages leave them out too.
 */
const test = base;

/** Sends a request and waits for its answer by id. */
async function ask(client: TestClient, frame: Record<string, unknown>): Promise<ReceivedFrame> {
  const from = client.frames.length;
  client.send(frame);
  return pollFor(
    () => client.frames.slice(from).find((f) => f.id === frame.id && f.type !== "inbox"),
    `the answer to ${frame.type}`,
  );
}

/** Retention runs on its own time: the next `inbox` frame may be seconds away. */
const EXPIRY_WAIT_MS = 15_000;

const expiredFrames = (client: TestClient) =>
  client.frames.filter(
    (f) => f.type === "inbox" && (f.changed as { state: string }[]).some((c) => c.state === "expired"),
  );

describe("the unread count when notifications leave by --inbox-max-age", () => {
  test.override({ gatewayOptions: { inbox: true, inboxMaxAge: 4 } });

  test("--inbox-max-age: every connection of the user on both gateways gets the count, once per expiry", async ({
    client,
    gatewayPair: [a, b],
    backend,
  }) => {
    const one = await client("e-alice", { at: a });
    const two = await client("e-alice", { at: b });
    await one.next("inbox");
    await two.next("inbox");
    const first = (await backend.notify("e-alice", "first")).id;
    // A user no gateway holds: read from the stream when the backend asks.
    await backend.notify("e-away", "while away");
    for (const c of [one, two]) expect(await c.next("inbox")).toMatchObject({ unread: 1, changed: [] });
    // Apart enough that each leaves on its own, however late a timer fires on a busy machine.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const second = (await backend.notify("e-alice", "second")).id;
    for (const c of [one, two]) expect(await c.next("inbox")).toMatchObject({ unread: 2, changed: [] });
    // The first leaves, then the second: each connection hears of each once.
    for (const c of [one, two]) {
      expect(await c.next("inbox", EXPIRY_WAIT_MS)).toEqual({
        type: "inbox",
        unread: 1,
        changed: [{ state: "expired", upTo: first }],
      });
      expect(await c.next("inbox", EXPIRY_WAIT_MS)).toEqual({
        type: "inbox",
        unread: 0,
        changed: [{ state: "expired", upTo: second }],
      });
    }
    expect(await backend.unread(["e-alice", "e-away"])).toEqual({
      "e-alice": { unread: 0, capped: false },
      "e-away": { unread: 0, capped: false },
    });
    expect(await backend.inbox("e-away")).toMatchObject({ items: [], unread: 0 });
    expect(await backend.inbox("e-alice")).toMatchObject({ items: [], unread: 0 });
    expect(await ask(one, { type: "inbox_list", id: 1 })).toMatchObject({ items: [], unread: 0 });
    for (const c of [one, two]) expect(expiredFrames(c)).toHaveLength(2);
  });

  test("--inbox-max-age: an unread one below the read watermark leaves the count too", async ({
    client,
    backend,
  }) => {
    const c = await client("e-bob");
    await c.next("inbox");
    const old = (await backend.notify("e-bob", "old")).id;
    const newer = (await backend.notify("e-bob", "newer")).id;
    await ask(c, { type: "inbox_mark", id: 1, upTo: newer, state: "read" });
    await ask(c, { type: "inbox_mark", id: 2, ids: [old], state: "unread" });
    // The connection that marked has the frame before the answer.
    expect(c.frames.filter((f) => f.type === "inbox").at(-1)).toMatchObject({ unread: 1 });
    const marked = c.frames.length;
    // Both leave within moments of each other: in one frame or two, the first says the count is 0.
    const left = await pollFor(
      () => c.frames.slice(marked).find((f) => f.type === "inbox"),
      "the count after the expiry",
      { timeoutMs: EXPIRY_WAIT_MS },
    );
    expect(left).toMatchObject({ unread: 0, changed: [{ state: "expired" }] });
    expect([old, newer]).toContain((left.changed as { upTo: number }[])[0]!.upTo);
    expect(await backend.unread(["e-bob"])).toEqual({ "e-bob": { unread: 0, capped: false } });
  });
});

describe("the unread count when notifications leave by --inbox-max-per-user", () => {
  test.override({ gatewayOptions: { inbox: true, inboxMaxPerUser: 3 } });

  test("--inbox-max-per-user: the oldest dropped for a newer one leaves the count and says so", async ({
    client,
    gatewayPair: [a, b],
    backend,
  }) => {
    const ids: number[] = [];
    for (const text of ["1", "2", "3"]) ids.push((await backend.notify("e-carol", text)).id);
    const one = await client("e-carol", { at: a });
    const two = await client("e-carol", { at: b });
    expect(await one.next("inbox")).toMatchObject({ unread: 3 });
    await two.next("inbox");
    // Everything read, then the oldest marked unread again: one unread, below the read watermark.
    await ask(one, { type: "inbox_mark", id: 1, upTo: ids[2], state: "read" });
    await ask(one, { type: "inbox_mark", id: 2, ids: [ids[0]], state: "unread" });
    for (const c of [one, two]) {
      expect(await c.next("inbox")).toMatchObject({ unread: 0 });
      expect(await c.next("inbox")).toMatchObject({ unread: 1 });
    }
    // A fourth: the stream keeps three, the unread oldest goes; the new one is unread.
    const fourth = (await backend.notify("e-carol", "4")).id;
    for (const c of [one, two]) {
      await c.next("notification");
      expect(await c.next("inbox")).toEqual({
        type: "inbox",
        unread: 1,
        changed: [{ state: "expired", upTo: ids[0] }],
      });
    }
    expect(await backend.unread(["e-carol"])).toEqual({ "e-carol": { unread: 1, capped: false } });
    const page = await ask(one, { type: "inbox_list", id: 3 });
    expect((page.items as { id: number }[]).map((item) => item.id)).toEqual([fourth, ids[2], ids[1]]);
    // A read one dropped: the count stays, the frame still says what left.
    const fifth = (await backend.notify("e-carol", "5")).id;
    for (const c of [one, two]) {
      await c.next("notification");
      expect(await c.next("inbox")).toEqual({
        type: "inbox",
        unread: 2,
        changed: [{ state: "expired", upTo: ids[1] }],
      });
    }
    expect(fifth).toBeGreaterThan(fourth);
  });
});
