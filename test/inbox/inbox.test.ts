import { jetstream } from "@nats-io/jetstream";
import { describe, expect } from "vitest";
import { pollFor, type ReceivedFrame, type TestClient } from "../../src/testing/index.js";
import { test as base } from "../fixtures.js";

/**
 * The notification inbox on a real nats-server with two gateways: notifications published on
 * `<prefix>.notify.<user>` reach every connection of the user live, pages list them newest first
 * with their state, a mark made anywhere reaches every connection of the user on every gateway as
 * an `inbox` frame with the new count, and a reconnect recovers what was missed. Each test has
 * users of its own: the streams live as long as the file's nats-server.
 */
const test = base.extend<{ notify: (user: string, data: unknown) => Promise<number> }>({
  notify: async ({ raw }, use) => {
    const js = jetstream(raw);
    await use(async (user, data) => (await js.publish(`herald.notify.${user}`, JSON.stringify(data))).seq);
  },
});
test.override({ gatewayOptions: { inbox: true } });

/** The next `inbox` frame, skipping notifications. */
async function nextInbox(client: TestClient): Promise<ReceivedFrame> {
  return client.next("inbox");
}

/** Sends a request and waits for its answer (or its `inbox_error`) by id, leaving the frame cursor where it is. */
async function ask(client: TestClient, frame: Record<string, unknown>): Promise<ReceivedFrame> {
  const from = client.frames.length;
  client.send(frame);
  return pollFor(
    () => client.frames.slice(from).find((f) => ANSWERS.has(f.type) && f.id === frame.id),
    `the answer to ${JSON.stringify(frame).slice(0, 80)}`,
  );
}
const ANSWERS = new Set(["inbox_page", "inbox_marked", "inbox_error"]);

async function ready(client: TestClient): Promise<ReceivedFrame> {
  const first = await nextInbox(client);
  expect(first).toMatchObject({ type: "inbox", changed: [] });
  return first;
}

describe("the notification inbox", () => {
  test("a notification reaches every connection of the user on both gateways, live", async ({
    client,
    gatewayPair: [a, b],
    notify,
  }) => {
    const one = await client("n-alice", { at: a });
    const two = await client("n-alice", { at: b });
    const other = await client("n-bob", { at: b });
    expect(await ready(one)).toMatchObject({ unread: 0, position: 0 });
    await ready(two);
    await ready(other);
    const id = await notify("n-alice", { text: "hello" });
    for (const c of [one, two]) {
      const frame = await c.next("notification");
      expect(frame).toEqual({ type: "notification", id, time: expect.any(Number), data: { text: "hello" } });
      expect(await nextInbox(c)).toEqual({ type: "inbox", unread: 1, changed: [] });
    }
    await notify("n-bob", "for bob");
    expect(await other.next("notification")).toMatchObject({ data: "for bob" });
    expect(one.frames.filter((f) => f.type === "notification")).toHaveLength(1);
  });

  test("lists newest first, with before, limit and more", async ({ client, notify }) => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await notify("l-alice", { i }));
    const c = await client("l-alice");
    expect(await ready(c)).toMatchObject({ unread: 5, position: ids[4] });
    const first = await ask(c, { type: "inbox_list", id: 1, limit: 2 });
    expect(first).toMatchObject({ type: "inbox_page", id: 1, unread: 5, more: true });
    expect((first.items as { id: number; data: unknown }[]).map((item) => item.data)).toEqual([
      { i: 4 },
      { i: 3 },
    ]);
    expect(first.items).toEqual([
      { id: ids[4], time: expect.any(Number), data: { i: 4 }, read: false, seen: false, archived: false },
      { id: ids[3], time: expect.any(Number), data: { i: 3 }, read: false, seen: false, archived: false },
    ]);
    const second = await ask(c, { type: "inbox_list", id: 2, before: ids[3], limit: 2 });
    expect((second.items as { id: number }[]).map((item) => item.id)).toEqual([ids[2], ids[1]]);
    expect(second.more).toBe(true);
    const last = await ask(c, { type: "inbox_list", id: 3, before: ids[1] });
    expect((last.items as { id: number }[]).map((item) => item.id)).toEqual([ids[0]]);
    expect(last.more).toBe(false);
    const empty = await client("l-nobody");
    await ready(empty);
    expect(await ask(empty, { type: "inbox_list", id: 4 })).toMatchObject({
      items: [],
      unread: 0,
      more: false,
    });
  });

  // One replica: its one server, the leader, answers a direct get as it would a STREAM.MSG.GET, with
  // a fifth of the work.
  test("a connect reads the user's state and newest id with direct gets, the streams having one replica", async ({
    client,
    collect,
  }) => {
    const direct = await collect("$JS.API.DIRECT.GET.>");
    const fromApi = await collect("$JS.API.STREAM.MSG.GET.>");
    await ready(await client("r-alice"));
    expect(direct.map((msg) => msg.subject).sort()).toEqual([
      "$JS.API.DIRECT.GET.HERALD_INBOX",
      "$JS.API.DIRECT.GET.KV_HERALD_INBOX_STATE",
    ]);
    expect(fromApi).toHaveLength(0);
  });

  // What a page costs: the items' payloads as stored, from any replica, not through the API layer
  // of the stream's leader (a JSON answer with the payload in base64, made and read for each item).
  test("a page reads each item with one direct get, nothing from the leader, and the same page again nothing", async ({
    client,
    notify,
    collect,
  }) => {
    const ids: number[] = [];
    for (let i = 0; i < 50; i++) ids.push(await notify("d-alice", { i }));
    const c = await client("d-alice");
    await ready(c);
    const direct = await collect("$JS.API.DIRECT.GET.HERALD_INBOX");
    const fromLeader = await collect("$JS.API.STREAM.MSG.GET.HERALD_INBOX");
    const page = await ask(c, { type: "inbox_list", id: 1, limit: 50 });
    expect((page.items as { id: number }[]).map((item) => item.id)).toEqual([...ids].reverse());
    expect(direct).toHaveLength(50);
    expect(fromLeader).toHaveLength(0);
    // The same page again, as a bell asks for it, from the payloads kept: no read at all; after a
    // new notification, one.
    expect(await ask(c, { type: "inbox_list", id: 2, limit: 50 })).toEqual({ ...page, id: 2 });
    expect(direct).toHaveLength(50);
    const newer = await notify("d-alice", { i: 50 });
    await c.next("notification");
    const next = await ask(c, { type: "inbox_list", id: 3, limit: 50 });
    expect((next.items as { id: number }[]).map((item) => item.id)).toEqual([
      newer,
      ...[...ids].reverse().slice(0, 49),
    ]);
    expect(direct).toHaveLength(51);
    expect(fromLeader).toHaveLength(0);
  });

  test("a mark on one connection reaches the user's other connection on the other gateway", async ({
    client,
    gatewayPair: [a, b],
    notify,
  }) => {
    const ids = [
      await notify("m-alice", "one"),
      await notify("m-alice", "two"),
      await notify("m-alice", "three"),
    ];
    const here = await client("m-alice", { at: a });
    const there = await client("m-alice", { at: b });
    await ready(here);
    expect(await ready(there)).toMatchObject({ unread: 3 });
    expect(await ask(here, { type: "inbox_mark", id: 1, ids: [ids[1]], state: "read" })).toEqual({
      type: "inbox_marked",
      id: 1,
    });
    expect(await nextInbox(there)).toEqual({
      type: "inbox",
      unread: 2,
      changed: [{ state: "read", ids: [ids[1]] }],
    });
    expect(await nextInbox(here)).toMatchObject({ unread: 2 });
    // Marked read, so seen too; the others untouched.
    const page = await ask(there, { type: "inbox_list", id: 2 });
    expect(
      (page.items as { id: number; read: boolean; seen: boolean }[]).map(({ id, read, seen }) => ({
        id,
        read,
        seen,
      })),
    ).toEqual([
      { id: ids[2], read: false, seen: false },
      { id: ids[1], read: true, seen: true },
      { id: ids[0], read: false, seen: false },
    ]);
    // Unread again, from the other gateway.
    await ask(there, { type: "inbox_mark", id: 3, ids: [ids[1]], state: "unread" });
    expect(await nextInbox(here)).toMatchObject({ unread: 3, changed: [{ state: "unread", ids: [ids[1]] }] });
    expect(await nextInbox(there)).toMatchObject({ unread: 3 });
    // Marking what is already so writes nothing and pushes nothing.
    await ask(here, { type: "inbox_mark", id: 4, ids: [ids[0]], state: "unread" });
    await ask(here, { type: "inbox_mark", id: 5, ids: [ids[0]], state: "seen" });
    expect(await nextInbox(there)).toMatchObject({ unread: 3, changed: [{ state: "seen", ids: [ids[0]] }] });
  });

  test("upTo marks everything up to an id, and no further than the newest", async ({ client, notify }) => {
    const ids = [await notify("u-alice", 1), await notify("u-alice", 2), await notify("u-alice", 3)];
    const c = await client("u-alice");
    await ready(c);
    await ask(c, { type: "inbox_mark", id: 1, upTo: ids[1], state: "read" });
    expect(await nextInbox(c)).toEqual({
      type: "inbox",
      unread: 1,
      changed: [{ state: "read", upTo: ids[1] }],
    });
    // A huge upTo stops at the newest notification: the next one is unread.
    await ask(c, { type: "inbox_mark", id: 2, upTo: Number.MAX_SAFE_INTEGER, state: "read" });
    expect(await nextInbox(c)).toEqual({
      type: "inbox",
      unread: 0,
      changed: [{ state: "read", upTo: ids[2] }],
    });
    const later = await notify("u-alice", 4);
    expect(await c.next("notification")).toMatchObject({ id: later });
    expect(await nextInbox(c)).toMatchObject({ unread: 1 });
  });

  test("archived notifications leave the count and the list unless asked for", async ({ client, notify }) => {
    const ids = [await notify("a-alice", 1), await notify("a-alice", 2)];
    const c = await client("a-alice");
    expect(await ready(c)).toMatchObject({ unread: 2 });
    await ask(c, { type: "inbox_mark", id: 1, ids: [ids[0]], state: "archived" });
    expect(await nextInbox(c)).toMatchObject({ unread: 1 });
    const page = await ask(c, { type: "inbox_list", id: 2 });
    expect((page.items as { id: number }[]).map((item) => item.id)).toEqual([ids[1]]);
    const all = await ask(c, { type: "inbox_list", id: 3, archived: true });
    expect(all.items).toEqual([
      expect.objectContaining({ id: ids[1], archived: false }),
      expect.objectContaining({ id: ids[0], archived: true, read: true, seen: true }),
    ]);
  });

  test("the count is exact up to the cap and says capped above it", async ({
    client,
    startGateway,
    notify,
  }) => {
    const gateway = await startGateway({ inbox: true, inboxUnreadCap: 3 });
    for (let i = 0; i < 5; i++) await notify("c-alice", i);
    const c = await client("c-alice", { at: gateway });
    expect(await ready(c)).toMatchObject({ unread: 3, capped: true });
    // Read the two newest: 3 left, exact again.
    const page = await ask(c, { type: "inbox_list", id: 1, limit: 2 });
    const newest = (page.items as { id: number }[]).map((item) => item.id);
    await ask(c, { type: "inbox_mark", id: 2, ids: newest, state: "read" });
    const after = await nextInbox(c);
    expect(after).toMatchObject({ unread: 3 });
    expect(after.capped).toBeUndefined();
  });

  test("a reconnect with the inbox position gets the notifications it missed, then the count", async ({
    client,
    notify,
  }) => {
    await notify("r-alice", "before");
    const first = await client("r-alice");
    const hello = await ready(first);
    first.close();
    const missed = [await notify("r-alice", "missed 1"), await notify("r-alice", "missed 2")];
    const again = await client("r-alice", {
      frame: { inbox: { epoch: hello.epoch, since: hello.position } },
    });
    expect(await again.next("notification")).toMatchObject({ id: missed[0], data: "missed 1" });
    expect(await again.next("notification")).toMatchObject({ id: missed[1], data: "missed 2" });
    expect(await nextInbox(again)).toMatchObject({ unread: 3, recovered: true, position: missed[1] });
    // Another epoch (a recreated stream): nothing replayed, list again.
    const stale = await client("r-alice", { frame: { inbox: { epoch: "1", since: 1 } } });
    expect(await nextInbox(stale)).toMatchObject({ recovered: false });
    expect(stale.frames.some((f) => f.type === "notification")).toBe(false);
  });

  test("refuses hostile frames: too many ids, bad limits, both ids and upTo, unread up to", async ({
    client,
  }) => {
    for (const frame of [
      { type: "inbox_mark", id: 1, ids: Array.from({ length: 101 }, (_, i) => i + 1), state: "read" },
      { type: "inbox_mark", id: 1, ids: [], state: "read" },
      { type: "inbox_mark", id: 1, ids: [1], upTo: 3, state: "read" },
      { type: "inbox_mark", id: 1, state: "read" },
      { type: "inbox_mark", id: 1, upTo: 3, state: "unread" },
      { type: "inbox_mark", id: 1, upTo: 1e308, state: "read" },
      { type: "inbox_mark", id: 1, ids: [0], state: "read" },
      { type: "inbox_mark", id: 1, ids: [1], state: "deleted" },
      { type: "inbox_list", id: 1, limit: 101 },
      { type: "inbox_list", id: 1, limit: 0 },
      { type: "inbox_list", id: -1 },
    ]) {
      const c = await client("h-alice");
      await ready(c);
      c.send(frame);
      expect(await c.next("error")).toMatchObject({ code: "INVALID_FRAME" });
      expect(await c.waitClose()).toMatchObject({ code: 4400 });
    }
  });

  test("another user's ids have no effect", async ({ client, notify }) => {
    const bobs = await notify("o-bob", "bob's");
    const alices = await notify("o-alice", "alice's");
    const alice = await client("o-alice");
    const bob = await client("o-bob");
    await ready(alice);
    expect(await ready(bob)).toMatchObject({ unread: 1 });
    await ask(alice, { type: "inbox_mark", id: 1, ids: [bobs, 999_999], state: "read" });
    await ask(alice, { type: "inbox_mark", id: 2, ids: [bobs], state: "archived" });
    await ask(alice, { type: "inbox_mark", id: 3, ids: [alices], state: "read" });
    // alice's own mark arrives; bob's inbox never changed.
    expect(await nextInbox(alice)).toMatchObject({ unread: 0, changed: [{ state: "read", ids: [alices] }] });
    const page = await ask(bob, { type: "inbox_list", id: 1 });
    expect(page).toMatchObject({ unread: 1, items: [{ id: bobs, read: false, archived: false }] });
    expect(bob.frames.filter((f) => f.type === "inbox")).toHaveLength(1);
  });

  test("one connection has at most 4 inbox requests under way", async ({ client, notify }) => {
    await notify("f-alice", "x");
    const c = await client("f-alice");
    await ready(c);
    for (let id = 1; id <= 6; id++) c.send({ type: "inbox_list", id });
    const answers: ReceivedFrame[] = [];
    while (answers.length < 6) {
      const frame = await c.next();
      if (frame.type === "inbox_page" || frame.type === "inbox_error") answers.push(frame);
    }
    expect(answers.filter((f) => f.type === "inbox_error").every((f) => f.code === "TOO_MANY_REQUESTS")).toBe(
      true,
    );
    expect(answers.filter((f) => f.type === "inbox_page").length).toBeGreaterThanOrEqual(4);
    expect(c.closed).toBeUndefined();
  });
});
