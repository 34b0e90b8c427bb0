import { jetstream } from "@nats-io/jetstream";
import { describe, expect } from "vitest";
import { pollFor, type ReceivedFrame, type TestClient } from "../../src/testing/index.js";
import { test as base } from "../fixtures.js";

/**
 * Retention per user is the inbox stream's own: `--inbox-max-per-user` (its `max_msgs_per_subject`)
 * keeps each user's newest, and `--inbox-max-age` drops notifications older than it — for a user
 * who comes back after an absence, and for one whose connection stayed open meanwhile.
 */
const test = base.extend<{ notify: (user: string, data: unknown) => Promise<number> }>({
  notify: async ({ raw }, use) => {
    const js = jetstream(raw);
    await use(async (user, data) => (await js.publish(`herald.notify.${user}`, JSON.stringify(data))).seq);
  },
});
test.override({ gatewayOptions: { inbox: true, inboxMaxPerUser: 3, inboxMaxAge: 2 } });

async function list(client: TestClient, id: number): Promise<ReceivedFrame> {
  const from = client.frames.length;
  client.send({ type: "inbox_list", id });
  return pollFor(
    () => client.frames.slice(from).find((f) => f.type === "inbox_page" && f.id === id),
    "a page",
  );
}

const idsOf = (page: ReceivedFrame) => (page.items as { id: number }[]).map((item) => item.id);

describe("inbox retention", () => {
  test("keeps each user's newest notifications, up to --inbox-max-per-user", async ({ client, notify }) => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await notify("k-alice", i));
    await notify("k-bob", "bob keeps his");
    const c = await client("k-alice");
    expect(await c.next("inbox")).toMatchObject({ unread: 3 });
    expect(idsOf(await list(c, 1))).toEqual([ids[4], ids[3], ids[2]]);
    // A connection that stays: the oldest it knows goes as a new one arrives.
    const newest = await notify("k-alice", 5);
    await c.next("notification");
    const page = await list(c, 2);
    expect(idsOf(page)).toEqual([newest, ids[4], ids[3]]);
    expect(page.unread).toBe(3);
    const bob = await client("k-bob");
    expect(await bob.next("inbox")).toMatchObject({ unread: 1 });
  });

  test("drops notifications older than --inbox-max-age, for a returning user and a connected one", async ({
    client,
    notify,
  }) => {
    await notify("g-alice", "old");
    const stays = await client("g-alice");
    expect(await stays.next("inbox")).toMatchObject({ unread: 1 });
    expect(idsOf(await list(stays, 1))).toHaveLength(1);
    // A page opened after the absence shows what is retained: nothing.
    await pollFor(
      async () => {
        const back = await client("g-alice");
        const first = await back.next("inbox");
        back.close();
        return first.unread === 0 ? true : undefined;
      },
      "the old notification to expire",
      { timeoutMs: 10_000, intervalMs: 250 },
    );
    const page = await list(stays, 2);
    expect(page).toMatchObject({ items: [], unread: 0, more: false });
    const fresh = await notify("g-alice", "new");
    expect(await stays.next("notification")).toMatchObject({ id: fresh });
    expect(idsOf(await list(stays, 3))).toEqual([fresh]);
  });
});
