import type { NatsConnection } from "@nats-io/nats-core";
import { connect as natsConnect } from "@nats-io/transport-node";
import { describe, expect } from "vitest";
import { WebSocket } from "ws";
import { accept, type HeraldBackend } from "../../src/backend/index.js";
import {
  HeraldInboxError,
  type InboxChangeEvent,
  type InboxItem,
  type InboxPage,
  inbox,
  type ListOptions,
  type Notification,
} from "../../src/client/inbox.js";
import { connect } from "../../src/client/index.js";
import type { GatewayConfig } from "../../src/gateway/index.js";
import { type ClusterNode, type NatsCluster, pollFor, waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";
import type { Launcher } from "../launcher.js";
import { sleep } from "./cluster-scene.js";

const USER = "alice";
/** Notifications for another user in between: alice's ids are not consecutive stream sequences. */
const OTHER = "bob";
const NOTIFY_STREAM = "HERALD_INBOX";
const STATE_STREAM = "KV_HERALD_INBOX_STATE";
/** Above every count this test reaches: counts are exact. */
const UNREAD_CAP = 1000;
const WAIT = { timeoutMs: 60_000, intervalMs: 50 };

/**
 * Sends numbered notifications without pause through the backend SDK's acknowledged `notify`,
 * alternately to alice and bob; a notify that fails is sent again with the same id, so it is stored
 * once whatever happened. Keeps the id of every notification of alice acknowledged, in order.
 */
class Notifier {
  readonly acked: number[] = [];
  failures = 0;
  longestStallMs = 0;
  private lastAck = Date.now();
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly run = Math.random().toString(36).slice(2);

  constructor(
    private readonly backend: HeraldBackend,
    private readonly paceMs = 20,
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /** Resolves once alice has `count` notifications acknowledged. */
  async waitFor(count: number): Promise<void> {
    await waitUntil(() => this.acked.length >= count, `${count} notifications of alice acknowledged`, WAIT);
  }

  private async loop(): Promise<void> {
    for (let n = 1; !this.stopped; n++) {
      const id = await this.notify(USER, n);
      this.acked.push(id);
      await this.notify(OTHER, n);
      await sleep(this.paceMs);
    }
  }

  private async notify(user: string, n: number): Promise<number> {
    for (;;) {
      try {
        const { id } = await this.backend.notify(user, { n }, { id: `${this.run}-${user}-${n}` });
        const now = Date.now();
        this.longestStallMs = Math.max(this.longestStallMs, now - this.lastAck);
        this.lastAck = now;
        return id;
      } catch {
        this.failures++;
        await sleep(100);
      }
    }
  }
}

/**
 * An SDK client of alice on one gateway, with what its inbox emitted and the id of every
 * `notification` frame the gateways sent it, on all its connections (read before the inbox does).
 */
function tab(url: string, launch: Launcher) {
  const client = launch.own(
    connect({ url, getToken: () => USER, WebSocket, backoff: { initialMs: 50, maxMs: 500 } }),
    (opened) => opened.close(),
  );
  const frames: number[] = [];
  client.extend({
    receive: (frame) => {
      if (frame.type === "notification") frames.push(frame.id as number);
      return false;
    },
    auth: () => undefined,
    ready: () => undefined,
    interrupted: () => undefined,
  });
  const box = inbox(client);
  const notifications: Notification[] = [];
  const changes: InboxChangeEvent[] = [];
  const errors: string[] = [];
  let resyncs = 0;
  box.on("notification", (n) => notifications.push(n));
  box.on("change", (c) => changes.push(c));
  box.on("resync", () => resyncs++);
  client.on("error", (error) => errors.push(error.code));
  return { client, box, frames, notifications, changes, errors, resyncs: () => resyncs };
}

/** Answers to `inbox_list` that said UNAVAILABLE (JetStream still settling after the kill), retried. */
let unavailableLists = 0;

/** A page, asked again while the gateway answers UNAVAILABLE, as the client's contract says to. */
async function listPage(box: ReturnType<typeof inbox>, options: ListOptions): Promise<InboxPage> {
  for (;;) {
    try {
      return await box.list(options);
    } catch (err) {
      if (!(err instanceof HeraldInboxError && err.code === "UNAVAILABLE") || unavailableLists++ > 100)
        throw err;
      await sleep(200);
    }
  }
}

/** The whole inbox, every page, newest first. */
async function listAll(box: ReturnType<typeof inbox>): Promise<InboxItem[]> {
  const items: InboxItem[] = [];
  for (let before: number | undefined; ; ) {
    const page = await listPage(box, { limit: 100, ...(before === undefined ? {} : { before }) });
    items.push(...page.items);
    if (!page.more) return items;
    before = page.items.at(-1)?.id;
  }
}

/** Asks the stream's leader to step down until `node` leads it. */
async function leadOn(
  cluster: NatsCluster,
  nc: NatsConnection,
  stream: string,
  node: ClusterNode,
): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const leader = await cluster.waitForStreamLeader(stream);
    if (leader === node.name) return;
    await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, "", { timeout: 5000 });
    await cluster.waitForStreamLeader(stream, { not: leader });
  }
  throw new Error(`${node.name} did not come to lead ${stream} after 20 step-downs`);
}

/**
 * A 3-node JetStream cluster with the inbox on at R3, two gateways on different nodes, alice with a
 * tab on each, and notifications coming without pause through the backend SDK's acknowledged
 * notify while the node leading both inbox streams (the notifications and the state bucket) is
 * SIGKILLed, alone or with gateway A's connection on it, or while another node leads them the node
 * holding gateway A's connection is. Marks are made before the kill on one gateway and after it on
 * the other. Every acknowledged notification must then be sent once to each tab and listed once,
 * with the read state made before the kill intact, the marks made after it applied and pushed to
 * the other gateway, and the count exact. And a mark made while gateway A's node hangs reaches A's
 * tab with what changed once A has left that node.
 */
describe("the inbox on a 3-node cluster", { timeout: 240_000 }, () => {
  test("a kill of the node leading its streams, which holds no gateway, loses nothing", async ({
    launch,
  }) => {
    const cluster = await launch.cluster(3);
    const [a, b, c] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    await nodeKill(launch, cluster, { backend: a, gatewayA: a, gatewayB: b, leader: c, victim: c });
  });

  test("a kill of the node leading its streams and holding gateway A's connection loses nothing", async ({
    launch,
  }) => {
    const cluster = await launch.cluster(3);
    const [a, b, c] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    await nodeKill(launch, cluster, { backend: a, gatewayA: c, gatewayB: b, leader: c, victim: c });
  });

  // Gateway A's tabs are cut off while the streams stay up: they are told to reconnect and recover
  // while notifications keep arriving live. Several tabs, each a chance to catch a race.
  test("a kill of the node holding gateway A's connection, while another node leads the streams, sends each notification once", async ({
    launch,
  }) => {
    const cluster = await launch.cluster(3);
    const [a, b, c] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    await nodeKill(launch, cluster, {
      backend: a,
      gatewayA: c,
      gatewayB: b,
      leader: a,
      victim: c,
      tabsOnA: 6,
      unreadAtKill: 150,
      paceMs: 0,
    });
  });

  // Gateway A's node hangs (no notification is stored meanwhile): A leaves it for another node
  // without the live copy of a mark made on gateway B, and its tab must still be told what changed.
  test("a mark stored while gateway A is cut off reaches its tab, with what changed, once A has moved to another node", async ({
    launch,
  }) => {
    const cluster = await launch.cluster(3);
    const [a, b, c] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const backend = await launch.backend(a, { authorize: (token) => accept({ user: token }) });
    const options: Partial<GatewayConfig> = { inbox: true, inboxReplicas: 3, inboxUnreadCap: UNREAD_CAP };
    const gatewayA = await launch.gateway(c, { ...options, natsPingInterval: 300, natsMaxPingsOut: 2 });
    const gatewayB = await launch.gateway(b, options);
    const admin = launch.own(await natsConnect({ servers: a.url }), (opened) => opened.close());
    await leadOn(cluster, admin, NOTIFY_STREAM, a);
    await leadOn(cluster, admin, STATE_STREAM, a);
    const one = tab(gatewayA.url, launch);
    const two = tab(gatewayB.url, launch);
    const { id } = await backend.notify(USER, "before the hang");
    await waitUntil(() => [one, two].every((t) => t.box.unread === 1), "both tabs counted it", WAIT);

    const from = one.changes.length;
    c.pause();
    try {
      await two.box.markRead([id]);
      const told = await pollFor(
        () => one.changes.slice(from).find((change) => change.unread === 0),
        "the count at gateway A's tab",
        WAIT,
      );
      expect(told.changed).toEqual([{ state: "read", ids: [id] }]);
      expect(one.errors).toEqual([]);
    } finally {
      c.resume();
    }
  });
});

interface Placement {
  readonly backend: ClusterNode;
  readonly gatewayA: ClusterNode;
  readonly gatewayB: ClusterNode;
  /** Leads both inbox streams. */
  readonly leader: ClusterNode;
  /** Is killed. */
  readonly victim: ClusterNode;
  /** Alice's tabs on gateway A (default 1). */
  readonly tabsOnA?: number;
  /**
   * Notifications acknowledged before the kill (default 20): the more are unread, the longer a
   * gateway takes to count them when a tab reconnects, while notifications keep arriving live.
   */
  readonly unreadAtKill?: number;
  /**
   * Pause between two notifications of alice (default 20 ms); 0: some are stored while gateway A's
   * connection moves to another node.
   */
  readonly paceMs?: number;
}

async function nodeKill(launch: Launcher, cluster: NatsCluster, placed: Placement): Promise<void> {
  const { leader, victim } = placed;
  unavailableLists = 0;
  const backend = await launch.backend(placed.backend, { authorize: (token) => accept({ user: token }) });
  const options: Partial<GatewayConfig> = { inbox: true, inboxReplicas: 3, inboxUnreadCap: UNREAD_CAP };
  // Each gateway is given one node's URL; it learns the others from the cluster, for a failover.
  const gatewayA = await launch.gateway(placed.gatewayA, options);
  const gatewayB = await launch.gateway(placed.gatewayB, options);
  const admin = launch.own(await natsConnect({ servers: placed.backend.url }), (opened) => opened.close());
  await leadOn(cluster, admin, NOTIFY_STREAM, leader);
  await leadOn(cluster, admin, STATE_STREAM, leader);

  const one = tab(gatewayA.url, launch);
  const two = tab(gatewayB.url, launch);
  const moreOnA = Array.from({ length: (placed.tabsOnA ?? 1) - 1 }, () => tab(gatewayA.url, launch));
  const tabs = [one, two, ...moreOnA];
  await waitUntil(() => tabs.every((t) => t.changes.length > 0), "every tab counted", WAIT);

  const notifier = new Notifier(backend, placed.paceMs);
  notifier.start();
  const read = new Set<number>();
  const readUpTo = (id: number) => {
    for (const acked of notifier.acked) if (acked <= id) read.add(acked);
  };
  /** Until the other tab has been told of the mark: it reached the other gateway. */
  const toldOf = (t: ReturnType<typeof tab>, from: number, matches: (c: InboxChangeEvent) => boolean) =>
    pollFor(() => t.changes.slice(from).find(matches), "the mark at the other tab", WAIT);
  try {
    // Before the kill: everything up to the 6th read, and two more by id, from gateway A's tab.
    await notifier.waitFor(20);
    const before = notifier.acked.slice(0, 20);
    const [upToBefore, oneBefore, otherBefore] = [before[5], before[8], before[13]] as [
      number,
      number,
      number,
    ];
    let from = two.changes.length;
    await one.box.markRead({ upTo: upToBefore });
    await one.box.markRead([oneBefore, otherBefore]);
    readUpTo(upToBefore);
    read.add(oneBefore).add(otherBefore);
    await toldOf(two, from, (change) => change.changed.some((m) => m.ids?.includes(otherBefore)));

    // The kill, while notifications keep coming.
    await notifier.waitFor(placed.unreadAtKill ?? 20);
    const killedAt = notifier.acked.length;
    await victim.kill();
    for (const stream of [NOTIFY_STREAM, STATE_STREAM])
      await cluster.waitForStreamLeader(stream, { not: victim.name, timeoutMs: 60_000 });
    await notifier.waitFor(killedAt + 15);
    // The tabs cut off by the kill reconnected and got what they missed before the marks they
    // are to be told of (a connection made after a mark gets the count, not the mark).
    const sent = notifier.acked.slice();
    await waitUntil(
      () =>
        tabs.every((t) => {
          const got = new Set(t.notifications.map((n) => n.id));
          return t.client.state === "ready" && sent.every((id) => got.has(id));
        }),
      "every tab ready with every notification sent so far",
      WAIT,
    );

    // After the kill, from gateway B's tab: up to a notification stored after it, and one by id.
    const after = notifier.acked.slice(killedAt);
    const [upToAfter, oneAfter] = [after[5], after[12]] as [number, number];
    from = one.changes.length;
    await two.box.markRead({ upTo: upToAfter });
    await two.box.markRead([oneAfter]);
    readUpTo(upToAfter);
    read.add(oneAfter);
    await toldOf(one, from, (change) => change.changed.some((m) => m.ids?.includes(oneAfter)));

    await notifier.waitFor(notifier.acked.length + 10);
  } finally {
    await notifier.stop();
  }

  const acked = notifier.acked;
  const unread = acked.filter((id) => !read.has(id)).length;
  const summary = () =>
    JSON.stringify({
      acked: acked.length,
      unread,
      notifyFailures: notifier.failures,
      longestNotifyStallMs: notifier.longestStallMs,
      tabs: tabs.map((t) => ({
        unread: t.box.unread,
        frames: t.frames.length,
        notifications: t.notifications.length,
        errors: t.errors,
        resyncs: t.resyncs(),
      })),
    });
  // Every tab ends with every notification and the exact count.
  for (const t of tabs) {
    await waitUntil(
      () => t.box.unread === unread && acked.every((id) => t.notifications.some((n) => n.id === id)),
      `a tab with all ${acked.length} notifications and ${unread} unread (${summary()})`,
      WAIT,
    );
  }
  console.log(
    `[inbox cluster] kill of ${victim === placed.gatewayA ? "gateway A's node" : "an idle node"}${leader === victim ? ", leading both streams" : ""}`,
    summary(),
  );

  const expected = [...acked].reverse().map((id) => ({ id, read: read.has(id) }));
  for (const t of tabs) {
    // Sent once by the gateways (exactly once, across reconnects), and emitted once by the SDK.
    const twice = t.frames.filter((id, i) => t.frames.indexOf(id) !== i);
    expect(twice, `notifications sent twice to a tab: ${JSON.stringify(t.frames)}`).toEqual([]);
    const ids = t.notifications.map((n) => n.id);
    expect(new Set(ids).size, `a notification emitted twice: ${JSON.stringify(ids)}`).toBe(ids.length);
  }
  for (const t of [one, two]) {
    const items = await listAll(t.box);
    expect(
      items.map(({ id, read }) => ({ id, read })),
      summary(),
    ).toEqual(expected);
    expect(items.map((item) => (item.data as { n: number }).n)).toEqual(
      acked.map((_, i) => acked.length - i),
    );
  }
  expect((await listPage(one.box, {})).unread).toBe(unread);
  console.log("[inbox cluster] inbox_list answered UNAVAILABLE, asked again:", unavailableLists);
  // A tab opened now, and the backend, count the same.
  const late = tab(gatewayB.url, launch);
  await waitUntil(() => late.changes.length > 0, "the new tab counted", WAIT);
  expect(late.box.unread).toBe(unread);
  expect((await backend.unread(USER))[USER]).toEqual({ unread, capped: false });
}
