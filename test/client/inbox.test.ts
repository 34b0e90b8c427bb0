import { describe, expect } from "vitest";
import { type InboxChangeEvent, inbox, type Notification } from "../../src/client/inbox.js";
import { pollFor } from "../../src/testing/index.js";
import { test } from "../fixtures.js";
import { closeClients, observeClient } from "./observed-client.js";
import { ScriptedGateway, until } from "./scripted-gateway.js";

/**
 * The client SDK's inbox (`herald/client/inbox`) against real gateways: the count it keeps, the
 * notifications it emits once (live and after a reconnect), pages and marks, and two clients of one
 * user on two gateways kept in step.
 */
describe("the client SDK's inbox", () => {
  test.override({ gatewayOptions: { inbox: true } });
  test.afterEach(() => closeClients());

  function watched(url: string, user: string) {
    const observed = observeClient(url, { getToken: () => user, backoff: { initialMs: 20, maxMs: 100 } });
    const box = inbox(observed.client);
    const notifications: Notification[] = [];
    const changes: InboxChangeEvent[] = [];
    let resyncs = 0;
    box.on("notification", (n) => notifications.push(n));
    box.on("change", (c) => changes.push(c));
    box.on("resync", () => resyncs++);
    return { ...observed, box, notifications, changes, resyncs: () => resyncs };
  }

  test("keeps the count, emits notifications, lists and marks; another tab on another gateway follows", async ({
    gatewayPair: [a, b],
    backend,
  }) => {
    const first = await backend.notify("ci-ann", "before");
    const one = watched(a.url, "ci-ann");
    const two = watched(b.url, "ci-ann");
    await pollFor(() => (one.changes.length && two.changes.length ? true : undefined), "both counts");
    expect(one.box.unread).toBe(1);
    const live = await backend.notify("ci-ann", { order: 7 });
    await pollFor(() => two.notifications.find((n) => n.id === live.id), "the live notification");
    await pollFor(() => (one.box.unread === 2 && two.box.unread === 2 ? true : undefined), "2 unread");
    const page = await one.box.list({ limit: 10 });
    expect(page.items.map((item) => [item.id, item.data, item.read])).toEqual([
      [live.id, { order: 7 }, false],
      [first.id, "before", false],
    ]);
    await one.box.markRead([first.id]);
    await pollFor(() => (two.box.unread === 1 ? true : undefined), "the other tab's count");
    expect(two.changes.at(-1)?.changed).toEqual([{ state: "read", ids: [first.id] }]);
    await two.box.markAllRead();
    await pollFor(() => (one.box.unread === 0 ? true : undefined), "all read in the first tab");
    await one.box.archive([live.id]);
    expect((await two.box.list()).items).toEqual([expect.objectContaining({ id: first.id })]);
    expect(one.errors).toEqual([]);
  });

  test("after a reconnect, the notifications missed meanwhile are emitted once", async ({
    gateway,
    startGateway,
    backend,
  }) => {
    const port = gateway.port;
    const tab = watched(gateway.url, "ci-bob");
    await pollFor(() => tab.changes.at(0), "the first count");
    const seen = await backend.notify("ci-bob", "live");
    await pollFor(() => tab.notifications.find((n) => n.id === seen.id), "the live one");
    await gateway.close();
    await pollFor(() => (tab.client.state === "reconnecting" ? true : undefined), "reconnecting");
    const missed = [
      (await backend.notify("ci-bob", "missed 1")).id,
      (await backend.notify("ci-bob", "missed 2")).id,
    ];
    await startGateway({ inbox: true, port });
    await pollFor(() => (tab.notifications.length === 3 ? true : undefined), "the missed ones", {
      timeoutMs: 15_000,
    });
    expect(tab.notifications.map((n) => n.id)).toEqual([seen.id, ...missed]);
    await pollFor(() => (tab.box.unread === 3 ? true : undefined), "the count after the reconnect");
    expect(tab.resyncs()).toBe(0);
  });

  test("a request made while disconnected waits for the next connection", async ({ gateway, backend }) => {
    await backend.notify("ci-cat", "x");
    const tab = watched(gateway.url, "ci-cat");
    // Asked before the connection is ready: sent once it is.
    const page = await tab.box.list();
    expect(page.items).toHaveLength(1);
    expect(page.unread).toBe(1);
  });
});

/** The SDK's own guard, against a gateway whose frames the test writes: an id comes twice. */
describe("the client SDK's inbox against a gateway that repeats a notification", () => {
  test("emits each id once, across a reconnect, and starts again on another inbox stream", async () => {
    const gateway = await ScriptedGateway.start();
    try {
      const observed = observeClient(gateway.url);
      const box = inbox(observed.client);
      const emitted: number[] = [];
      let resyncs = 0;
      box.on("notification", (n) => emitted.push(n.id));
      box.on("resync", () => resyncs++);
      const notification = (id: number) => ({ type: "notification", id, time: 1, data: id });
      const counted = (position: number, extras: Record<string, unknown> = {}) => ({
        type: "inbox",
        unread: 0,
        changed: [],
        epoch: "e1",
        position,
        ...extras,
      });

      const first = await gateway.connection(0);
      await first.ready();
      // A notification up to the connect's position that arrived while the gateway loaded is new.
      first.send(notification(9));
      first.send(counted(10));
      for (const id of [11, 12, 12, 11]) first.send(notification(id));
      await until(() => box.unread === 0 && emitted.includes(12), "the live ones");
      first.fail("INTERRUPTED", 1012);

      const second = await gateway.connection(1);
      expect((await second.frame("auth")).inbox).toEqual({ epoch: "e1", since: 12 });
      await second.ready();
      for (const id of [12, 13]) second.send(notification(id));
      second.send(counted(13, { recovered: true }));
      second.send(notification(13));
      second.send(notification(14));
      await until(() => emitted.includes(14), "the one after the reconnect");
      expect(emitted).toEqual([9, 11, 12, 13, 14]);
      second.fail("INTERRUPTED", 1012);

      // Another stream: its ids start again, and what was emitted says nothing of them.
      const third = await gateway.connection(2);
      await third.ready();
      third.send({ ...counted(2), epoch: "e2", recovered: false });
      third.send(notification(3));
      await until(() => emitted.includes(3), "the first of the new stream");
      expect(emitted).toEqual([9, 11, 12, 13, 14, 3]);
      expect(resyncs).toBe(1);
    } finally {
      await gateway.close();
    }
  });
});
