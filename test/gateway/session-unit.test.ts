import { afterEach, describe, expect, it } from "vitest";
import type { AuthOutcome } from "../../src/gateway/backend/auth-client.js";
import { InFlightPerAddress } from "../../src/gateway/backend/in-flight-per-address.js";
import type { SubscribeOutcome } from "../../src/gateway/backend/subscribe-authorizer.js";
import { type GatewayConfig, loadGatewayConfig } from "../../src/gateway/config/config.js";
import type { ChannelSubscription } from "../../src/gateway/connection/channel-subscription.js";
import type { ClientSocket } from "../../src/gateway/connection/client-socket.js";
import { Session } from "../../src/gateway/connection/session.js";
import type { ChannelMember } from "../../src/gateway/delivery/channel-hub.js";
import { OutboundFrame } from "../../src/gateway/delivery/outbound-frame.js";
import type {
  ConnectionClose,
  ConnectionGrant,
  GatewayContext,
  Tracking,
} from "../../src/gateway/gateway-context.js";
import { NO_INBOX } from "../../src/gateway/inbox/inbox-connections.js";
import { createLogger } from "../../src/gateway/logger.js";
import { GatewayMetrics } from "../../src/gateway/metrics.js";
import { UNTRACKED } from "../../src/gateway/tracking/events/untracked.js";
import type { AuthRequest } from "../../src/protocol/index.js";
import { waitUntil } from "../../src/testing/index.js";

/**
 * The session as a state machine, without a network: a socket that records what the session does
 * to it, and stand-ins for the backend and NATS whose answers each test sets. What crosses a real
 * network is tested against a real gateway elsewhere; this is the logic between.
 */
class RecordingSocket implements ClientSocket {
  readonly sent: Record<string, unknown>[] = [];
  closed: { code: number; reason: string } | undefined;
  bufferedBytes = 0;
  /** While set, written frames are not taken by the network: their `taken` waits here. */
  untaken: (() => void)[] | undefined;
  send(frame: OutboundFrame, taken?: () => void): void {
    this.sent.push(JSON.parse(frame.payload.toString()) as Record<string, unknown>);
    if (taken && this.untaken) this.untaken.push(taken);
    else taken?.();
  }
  batch(write: () => void): void {
    write();
  }
  /** The network takes everything written, and from now on at once. */
  drain(): void {
    const untaken = this.untaken ?? [];
    this.untaken = undefined;
    for (const taken of untaken) taken();
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
  types(): unknown[] {
    return this.sent.map((f) => f.type);
  }
}

const sessions: Session[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.close(1000, "test over");
});

function setup(
  answer: (request: AuthRequest) => Promise<AuthOutcome> = async (r) => ({
    kind: "accepted",
    reply: { ok: true, user: r.token },
  }),
  overrides: Partial<GatewayConfig> = {},
  tracking: Tracking = UNTRACKED,
  authorize: () => Promise<SubscribeOutcome> = async () => ({
    kind: "unavailable",
    message: "no backend in this test",
  }),
) {
  const socket = new RecordingSocket();
  const joins: {
    channel: string;
    member: ChannelMember;
    done: () => void;
    fail: (err: Error) => void;
  }[] = [];
  /** Each channel's newest hub member: the hub hands it the channel's live frames. */
  const members = new Map<string, ChannelMember>();
  const left: string[] = [];
  let closedCount = 0;
  const config = loadGatewayConfig({ overrides: { history: false, ...overrides } });
  const logger = createLogger("silent", "unit");
  const metrics = new GatewayMetrics(false);
  const ctx: GatewayContext = {
    config,
    auth: { authenticate: answer },
    subscribe: { authorize },
    hub: {
      join: (channel, member) => {
        members.set(channel, member);
        return new Promise((resolve, reject) =>
          joins.push({ channel, member, done: () => resolve(undefined), fail: reject }),
        );
      },
      leave: (channel) => void left.push(channel),
    },
    recovery: undefined,
    rpc: {
      answer: async () => {
        throw new Error("these tests make no rpc calls");
      },
      refusal: () => {
        throw new Error("these tests make no rpc calls");
      },
    },
    inFlightPerAddress: new InFlightPerAddress(config.maxInFlightPerIp, logger, metrics),
    control: { disconnectedSince: () => undefined, removedSince: () => false },
    logger,
    metrics,
    tracking,
    inbox: NO_INBOX,
  };
  const session = new Session({
    socket,
    ctx,
    remoteAddress: "198.51.100.1",
    headers: {},
    onClosed: () => closedCount++,
  });
  sessions.push(session);
  const frame = (value: unknown) => session.onFrame(Buffer.from(JSON.stringify(value)), false);
  /** A live message of `channel` from the hub. */
  const publish = (channel: string, data: unknown) =>
    members.get(channel)?.deliver(channel, OutboundFrame.of({ type: "message", channel, data }), undefined);
  const joinAll = async () => {
    await until(() => joins.length > 0);
    for (const j of joins.splice(0)) j.done();
    await until(() => session.isReady || !session.isOpen);
  };
  return {
    socket,
    session,
    frame,
    publish,
    joinAll,
    joins,
    members,
    left,
    closedCount: () => closedCount,
  };
}

const until = (condition: () => boolean) => waitUntil(condition, "the session's state", { intervalMs: 1 });

describe("session state machine", () => {
  it("goes awaiting_auth → authenticating → joining → ready, and delivers", async () => {
    const { socket, session, frame, publish, joinAll } = setup();
    expect(session.state).toBe("awaiting_auth");
    frame({ type: "auth", token: "ann" });
    expect(session.state).toBe("authenticating");
    await until(() => session.state === "joining");
    await joinAll();
    expect(session.state).toBe("ready");
    expect(socket.sent[0]).toMatchObject({ type: "ready", user: "ann", channels: ["user.ann"] });
    publish("user.ann", 1);
    expect(socket.types()).toEqual(["ready", "message"]);
  });

  it("holds live frames that arrive while joining until after ready", async () => {
    const { socket, session, frame, publish, joinAll, joins } = setup();
    frame({ type: "auth", token: "bo" });
    await until(() => joins.length > 0);
    expect(session.state).toBe("joining");
    publish("user.bo", "early");
    expect(socket.sent).toHaveLength(0);
    await joinAll();
    await until(() => socket.sent.length === 2);
    expect(socket.types()).toEqual(["ready", "message"]);
  });

  it("refuses frames before auth with NOT_AUTHENTICATED and a fixed close reason", () => {
    const { socket, frame } = setup();
    frame({ type: "ping" });
    expect(socket.sent[0]).toMatchObject({ type: "error", code: "NOT_AUTHENTICATED" });
    expect(socket.closed).toEqual({ code: 4403, reason: "NOT_AUTHENTICATED" });
  });

  it("closes with 1011 INTERNAL when its own handling throws, and lets go of everything", async () => {
    const { socket, session, frame, closedCount } = setup(async () => {
      throw new Error("a bug");
    });
    frame({ type: "auth", token: "cy" });
    await until(() => socket.closed !== undefined);
    expect(socket.sent.at(-1)).toMatchObject({ type: "error", code: "INTERNAL" });
    expect(socket.closed).toEqual({ code: 1011, reason: "INTERNAL" });
    expect(session.state).toBe("closed");
    expect(closedCount()).toBe(1);
  });

  it("closes with 1011 INTERNAL when asking about a refresh throws, not with an unhandled rejection", async () => {
    const { socket, session, frame, joinAll } = setup(
      async (r) => {
        if (r.kind === "refresh") throw new Error("a bug");
        return { kind: "accepted", reply: { ok: true, user: r.token, expiresAt: Date.now() + 60_000 } };
      },
      { refreshBefore: 120_000 },
    );
    frame({ type: "auth", token: "eli" });
    await joinAll();
    expect(socket.types()).toEqual(["ready", "token_expiring"]);
    frame({ type: "refresh", token: "eli2" });
    await until(() => socket.closed !== undefined);
    expect(socket.sent.at(-1)).toMatchObject({ type: "error", code: "INTERNAL" });
    expect(socket.closed).toEqual({ code: 1011, reason: "INTERNAL" });
    expect(session.state).toBe("closed");
  });

  it("cuts off a client over its frame rate with 1008", async () => {
    const { socket, frame, joinAll } = setup(undefined, { clientFrameBurst: 3, clientFrameRate: 1 });
    frame({ type: "auth", token: "gus" });
    await joinAll();
    for (let i = 0; i < 3; i++) frame({ type: "pong" });
    expect(socket.closed?.code).toBe(1008);
    expect(socket.sent.at(-1)).toMatchObject({ code: "RATE_LIMITED" });
  });

  it("cuts off a socket whose outbound queue is over the limit with 4429", async () => {
    const { socket, frame, publish, joinAll } = setup(undefined, { maxBufferedBytes: 2048 });
    frame({ type: "auth", token: "di" });
    await joinAll();
    socket.bufferedBytes = 2040;
    publish("user.di", "x".repeat(100));
    expect(socket.closed?.code).toBe(4429);
  });

  it("asks for a refresh before expiry, takes one answer, refuses a second", async () => {
    const expiresAt = Date.now() + 60_000;
    const { socket, session, frame, joinAll } = setup(
      async (r) => ({
        kind: "accepted",
        reply: { ok: true, user: r.user ?? r.token, ...(r.kind === "connect" ? { expiresAt } : {}) },
      }),
      { refreshBefore: 120_000 },
    );
    frame({ type: "auth", token: "ed" });
    await joinAll();
    expect(socket.types()).toEqual(["ready", "token_expiring"]);
    frame({ type: "refresh", token: "ed2" });
    await until(() => socket.sent.length === 3);
    expect(socket.sent[2]).toEqual({ type: "refreshed" });
    frame({ type: "refresh", token: "ed3" });
    expect(socket.closed?.code).toBe(1008);
    expect(session.state).toBe("closed");
  });

  it("holds a subscribed channel's live frames until subscribed has gone out, and tells connection events", async () => {
    const seen: string[] = [];
    const events: Tracking = {
      ...UNTRACKED,
      subscribed: (_connection, channel, presence) => void seen.push(`+${channel} ${presence}`),
      unsubscribed: (_connection, channel) => void seen.push(`-${channel}`),
    };
    const granted = async (): Promise<SubscribeOutcome> => ({
      kind: "granted",
      expiresAt: undefined,
      presence: false,
    });
    const { socket, frame, joinAll, joins } = setup(undefined, {}, events, granted);
    frame({ type: "auth", token: "hy" });
    await joinAll();
    frame({ type: "subscribe", channel: "channel.room" });
    await until(() => joins.length > 0);
    const join = joins[0]!;
    expect(join.channel).toBe("channel.room");
    // a message of the channel arrives while the gateway is still joining it
    join.member.deliver(
      "channel.room",
      OutboundFrame.of({ type: "message", channel: "channel.room", data: 1 }),
      7,
    );
    expect(socket.types()).toEqual(["ready"]);
    expect(seen).toEqual([]);
    join.done();
    await until(() => socket.sent.length === 3);
    expect(socket.types()).toEqual(["ready", "subscribed", "message"]);
    expect(seen).toEqual(["+channel.room false"]);
    frame({ type: "unsubscribe", channel: "channel.room" });
    expect(seen).toEqual(["+channel.room false", "-channel.room"]);
  });

  it("answers a subscribe before the backend with subscribe_error, never a close", async () => {
    const { socket, frame, joinAll } = setup();
    frame({ type: "auth", token: "iz" });
    await joinAll();
    frame({ type: "subscribe", channel: "channel.room" });
    await until(() => socket.sent.length === 2);
    expect(socket.sent[1]).toMatchObject({ type: "subscribe_error", code: "BACKEND_UNAVAILABLE" });
    expect(socket.closed).toBeUndefined();
  });

  it("leaves every channel it joined when it closes", async () => {
    const { session, frame, joinAll, left, closedCount } = setup(async () => ({
      kind: "accepted",
      reply: { ok: true, user: "fay", channels: ["news", "news", "ops"] },
    }));
    frame({ type: "auth", token: "fay" });
    await joinAll();
    session.close(1000, "bye");
    expect(left.sort()).toEqual(["channel.news", "channel.ops", "user.fay"]);
    expect(closedCount()).toBe(1);
  });

  it("tells connection events when it is ready, and how it ended: by the client or by the gateway", async () => {
    const seen: (ConnectionGrant | ConnectionClose | string)[] = [];
    const events: Tracking = {
      ...UNTRACKED,
      ready: (_connection, grant) => void seen.push(grant),
      closed: (_connection, close) => void seen.push(close),
      presenceRequested: (_connection, channel) => void seen.push(`presence ${channel}`),
    };
    const accepted = async (): Promise<AuthOutcome> => ({
      kind: "accepted",
      reply: { ok: true, user: "gus", channels: ["room", "ops"], presence: ["room"], info: { n: 1 } },
    });
    const byClient = setup(accepted, { presence: true }, events);
    byClient.frame({ type: "auth", token: "gus" });
    await byClient.joinAll();
    expect(byClient.socket.sent[0]).toMatchObject({ type: "ready", presence: ["channel.room"] });
    byClient.frame({ type: "presence", channel: "channel.room" });
    byClient.session.onClose(1001);
    const byGateway = setup(accepted, {}, events);
    byGateway.frame({ type: "auth", token: "gus" });
    await byGateway.joinAll();
    expect(byGateway.socket.sent[0]).not.toHaveProperty("presence");
    byGateway.frame("a string, not an object");
    const dropped = setup(accepted, {}, events);
    dropped.frame({ type: "auth", token: "gus" });
    await dropped.joinAll();
    dropped.session.onClose(1006);
    expect(seen).toEqual([
      { user: "gus", channels: ["channel.room", "channel.ops"], presence: ["channel.room"], info: { n: 1 } },
      "presence channel.room",
      { code: 1001, byClient: true, reason: undefined },
      // presence off on this gateway: no presence granted, whatever the reply says
      { user: "gus", channels: ["channel.room", "channel.ops"], presence: [], info: { n: 1 } },
      { code: 4400, byClient: false, reason: "INVALID_FRAME" },
      { user: "gus", channels: ["channel.room", "channel.ops"], presence: [], info: { n: 1 } },
      { code: 1006, byClient: false, reason: undefined },
    ]);
  });
});

/** A backend answer to a subscribe that the test gives when it wants. */
function pendingAuthorizations() {
  const waiting: ((outcome: SubscribeOutcome) => void)[] = [];
  return {
    authorize: () => new Promise<SubscribeOutcome>((resolve) => waiting.push(resolve)),
    waiting: () => waiting.length,
    answer: (outcome: SubscribeOutcome = { kind: "granted", expiresAt: undefined, presence: false }) =>
      waiting.shift()?.(outcome),
  };
}

const stageOf = (member: ChannelMember | undefined) => (member as ChannelSubscription | undefined)?.stage;

describe("channel lifecycle", () => {
  it("takes a granted channel through joining → recovering → replaying → live, its frames waiting until then", async () => {
    const { socket, session, frame, publish, joins, members } = setup(async () => ({
      kind: "accepted",
      reply: { ok: true, user: "ola", channels: ["news"] },
    }));
    frame({ type: "auth", token: "ola" });
    await until(() => joins.length === 2);
    expect(joins.map((j) => j.channel)).toEqual(["user.ola", "channel.news"]);
    expect(stageOf(members.get("channel.news"))).toBe("joining");
    publish("channel.news", "while joining");
    for (const join of joins.splice(0)) join.done();
    await until(() => session.state === "ready");
    expect(stageOf(members.get("channel.news"))).toBe("live");
    publish("channel.news", "live");
    expect(socket.sent.map((f) => f.data ?? f.type)).toEqual(["ready", "while joining", "live"]);
  });

  it("takes a subscribed channel through the same stages, from authorizing", async () => {
    const backend = pendingAuthorizations();
    const { socket, frame, publish, joinAll, joins, members } = setup(
      undefined,
      {},
      UNTRACKED,
      backend.authorize,
    );
    frame({ type: "auth", token: "pia" });
    await joinAll();
    frame({ type: "subscribe", channel: "channel.room" });
    await until(() => backend.waiting() === 1);
    expect(members.has("channel.room")).toBe(false); // not in the hub while the backend decides
    backend.answer();
    await until(() => joins.length === 1);
    expect(stageOf(members.get("channel.room"))).toBe("joining");
    publish("channel.room", "while joining");
    joins.shift()!.done();
    await until(() => stageOf(members.get("channel.room")) === "live");
    publish("channel.room", "live");
    expect(socket.sent.map((f) => f.data ?? f.type)).toEqual([
      "ready",
      "subscribed",
      "while joining",
      "live",
    ]);
  });

  it("fails a join with the same code either way: the connect closes, the subscribe is refused", async () => {
    const connect = setup();
    connect.frame({ type: "auth", token: "quinn" });
    await until(() => connect.joins.length > 0);
    connect.joins[0]!.fail(new Error("no NATS"));
    await until(() => connect.socket.closed !== undefined);
    const closedWith = connect.socket.sent.at(-1);
    expect(closedWith).toMatchObject({ type: "error", code: "BACKEND_UNAVAILABLE" });
    expect(connect.socket.closed).toEqual({ code: 1013, reason: "BACKEND_UNAVAILABLE" });

    const granted = async (): Promise<SubscribeOutcome> => ({
      kind: "granted",
      expiresAt: undefined,
      presence: false,
    });
    const later = setup(undefined, {}, UNTRACKED, granted);
    later.frame({ type: "auth", token: "quinn" });
    await later.joinAll();
    later.frame({ type: "subscribe", channel: "channel.room" });
    await until(() => later.joins.length > 0);
    later.joins[0]!.fail(new Error("no NATS"));
    await until(() => later.socket.sent.length === 2);
    expect(later.socket.sent[1]).toEqual({
      type: "subscribe_error",
      channel: "channel.room",
      code: "BACKEND_UNAVAILABLE",
      message: closedWith?.message,
    });
    expect(later.socket.closed).toBeUndefined();
    expect(later.left).toEqual(["channel.room"]);
  });

  it("passes a subscribed channel's live frames through one replay buffer, behind the replay still running", async () => {
    const granted = async (): Promise<SubscribeOutcome> => ({
      kind: "granted",
      expiresAt: undefined,
      presence: false,
    });
    const { socket, session, frame, publish, joins, members } = setup(
      undefined,
      { maxBufferedBytes: 4096 },
      UNTRACKED,
      granted,
    );
    frame({ type: "auth", token: "rae" });
    await until(() => joins.length === 1);
    // more than the replay's window (half of 4096 bytes) waits while joining
    for (let n = 1; n <= 8; n++) publish("user.rae", { n, pad: "x".repeat(300) });
    socket.untaken = []; // the client reads nothing for now
    joins.shift()!.done();
    await until(() => session.state === "replaying" && socket.sent.length > 1);
    expect(socket.sent.length).toBeLessThan(9); // the window is full: the rest waits
    frame({ type: "subscribe", channel: "channel.room" });
    await until(() => joins.length === 1);
    joins.shift()!.done();
    await until(() => socket.types().includes("subscribed"));
    publish("channel.room", "room");
    // announced, but behind the replay still running: its frame waits, once
    expect(stageOf(members.get("channel.room"))).toBe("replaying");
    expect(socket.sent.some((f) => f.data === "room")).toBe(false);
    socket.drain();
    await until(() => session.state === "ready" && stageOf(members.get("channel.room")) === "live");
    const order = socket.sent.map((f) =>
      f.type === "message" ? ((f.data as { n?: number }).n ?? f.data) : f.type,
    );
    expect(order.filter((x) => x !== "subscribed")).toEqual(["ready", 1, 2, 3, 4, 5, 6, 7, 8, "room"]);
    expect(order.indexOf("subscribed")).toBeLessThan(order.indexOf("room"));
  });

  it("lets a removal win in every stage of a subscribed channel, and keeps its slot until the backend answers", async () => {
    const backend = pendingAuthorizations();
    const { socket, session, frame, publish, joinAll, joins, members, left } = setup(
      undefined,
      { maxSubscribesInFlight: 1 },
      UNTRACKED,
      backend.authorize,
    );
    frame({ type: "auth", token: "sol" });
    await joinAll();
    // authorizing: unsubscribed at once; the grant that comes later is dropped
    frame({ type: "subscribe", channel: "channel.a" });
    await until(() => backend.waiting() === 1);
    expect(session.subscriptions.remove("channel.a", "removed")).toBe(true);
    frame({ type: "subscribe", channel: "channel.b" });
    expect(socket.sent.at(-1)).toMatchObject({ type: "subscribe_error", code: "TOO_MANY_REQUESTS" });
    backend.answer();
    await until(() => backend.waiting() === 0);
    // joining: its frames waiting go with it
    frame({ type: "subscribe", channel: "channel.c" });
    await until(() => backend.waiting() === 1);
    backend.answer();
    await until(() => joins.length === 1);
    publish("channel.c", "waited");
    expect(session.subscriptions.remove("channel.c", "removed")).toBe(true);
    joins.shift()!.done();
    // live: nothing more of it after unsubscribed
    frame({ type: "subscribe", channel: "channel.d" });
    await until(() => backend.waiting() === 1);
    backend.answer();
    await until(() => joins.length === 1);
    joins.shift()!.done();
    await until(() => stageOf(members.get("channel.d")) === "live");
    const d = members.get("channel.d");
    expect(session.subscriptions.remove("channel.d", "removed")).toBe(true);
    d?.deliver("channel.d", OutboundFrame.of({ type: "message", channel: "channel.d", data: "late" }), 1);
    expect(socket.sent.slice(1)).toEqual([
      { type: "unsubscribed", channel: "channel.a", reason: "removed" },
      expect.objectContaining({ type: "subscribe_error", channel: "channel.b" }),
      { type: "unsubscribed", channel: "channel.c", reason: "removed" },
      { type: "subscribed", channel: "channel.d" },
      { type: "unsubscribed", channel: "channel.d", reason: "removed" },
    ]);
    expect(left).toEqual(["channel.a", "channel.c", "channel.d"]);
  });

  it("leaves a granted channel removed while joining out of ready, with nothing sent of it", async () => {
    const { socket, session, frame, publish, joins } = setup(async () => ({
      kind: "accepted",
      reply: { ok: true, user: "tam", channels: ["x", "y"], presence: ["x"] },
    }));
    frame({ type: "auth", token: "tam" });
    await until(() => joins.length === 3);
    publish("channel.x", "waited");
    expect(session.subscriptions.remove("channel.x", "removed")).toBe(true);
    expect(session.subscriptions.remove("user.tam", "removed")).toBe(false); // the user's own stays
    for (const join of joins.splice(0)) join.done();
    await until(() => session.state === "ready");
    expect(socket.sent).toHaveLength(1);
    expect(socket.sent[0]).toMatchObject({ type: "ready", channels: ["user.tam", "channel.y"] });
  });
});
