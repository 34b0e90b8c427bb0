import { describe, expect } from "vitest";
import { type InboxChangeEvent, inbox, type Notification } from "../../src/client/inbox.js";
import { pollFor } from "../../src/testing/index.js";
import { test } from "../fixtures.js";
import { closeClients, observeClient } from "./observed-client.js";

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
