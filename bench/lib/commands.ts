import * as v from "valibot";
import { DEFAULT_PREFIX } from "../../src/protocol/index.js";

/** The commands the runner sends to its helper processes and their replies (validated both ways). */

/**
 * `herald` is the gateway as it ships (history on: JetStream, file storage, on its nats-server);
 * `herald-nohistory` the same with `--history false` (at-most-once); `herald-presence` the same as
 * `herald` with `--events true --presence true`, every user with presence on the shared channel;
 * `herald-http-stream` and `herald-sse` the `herald` gateway with clients on its HTTP fallbacks;
 * `herald-inbox` the same as `herald` with `--inbox true` (the notification inbox).
 */
export const SYSTEM_NAMES = [
  "herald",
  "herald-nohistory",
  "herald-presence",
  "herald-http-stream",
  "herald-sse",
  "herald-inbox",
  "nats-ws",
  "socketio",
] as const;
export const SystemName = v.picklist(SYSTEM_NAMES);
export type SystemName = v.InferOutput<typeof SystemName>;

const Count = v.pipe(v.number(), v.integer(), v.minValue(0));

/** Users are `u0`, `u1`, ...; every client also receives the shared channel `all`. */
export const userId = (index: number): string => `u${index}`;
export const SHARED_CHANNEL = "all";
export const SUBJECT_PREFIX = DEFAULT_PREFIX;

export const ConnectCommand = v.object({
  type: v.literal("connect"),
  system: SystemName,
  url: v.string(),
  firstUser: Count,
  count: Count,
  localAddresses: v.pipe(v.array(v.string()), v.minLength(1)),
  /** Connections opening at once; 0 opens all of them at once (the storm). */
  concurrency: Count,
  timeoutMs: Count,
  /** Stop reading right after ready (the socket is paused until `resume`): a stalled consumer. */
  stall: v.optional(v.boolean(), false),
});

export const ConnectResult = v.object({
  ready: Count,
  failed: Count,
  failures: v.record(v.string(), Count),
  startedNs: v.number(),
  lastReadyNs: v.number(),
});
export type ConnectResult = v.InferOutput<typeof ConnectResult>;

/**
 * `reconnect` and `scale`: open every client to `url`; when its connection drops (its gateway or
 * gateway worker dies) each reconnects at once to `reconnectUrl` with `recover` (Herald with history
 * only).
 */
export const ConnectRecoveringCommand = v.object({
  type: v.literal("connectRecovering"),
  url: v.string(),
  reconnectUrl: v.string(),
  firstUser: Count,
  count: Count,
  localAddresses: v.pipe(v.array(v.string()), v.minLength(1)),
  /** Connections opening at once; 0 opens all of them at once (a storm). */
  concurrency: v.optional(Count, 0),
  timeoutMs: Count,
});

export const RecoveringCommand = v.variant("type", [
  ConnectRecoveringCommand,
  v.object({ type: v.literal("recoveryProgress") }),
  /** `sent[i]`: numbered messages published to user firstUser + i. */
  v.object({ type: v.literal("recoveryReport"), killedNs: v.number(), sent: v.array(Count) }),
]);
export type RecoveringCommand = v.InferOutput<typeof RecoveringCommand>;

export const RecoveryProgress = v.object({
  /** Clients whose connection dropped after their first `ready` (reconnecting or done). */
  dropped: Count,
  /** Clients ready again after the reconnect. */
  ready: Count,
  notRecovered: Count,
  /** Distinct numbered messages received so far. */
  received: Count,
  failures: v.record(v.string(), Count),
});
export type RecoveryProgress = v.InferOutput<typeof RecoveryProgress>;

export const RecoveryReport = v.object({
  firstUser: Count,
  /** Per client ready again after the reconnect: ms from the kill to its `ready`, and to its last replayed message. */
  readyMs: v.array(v.number()),
  recoveredMs: v.array(v.number()),
  /** Acknowledged messages a client never received, though nothing told it to refetch. */
  lost: Count,
  /** Messages missed by clients told `recovered: false` (their application refetches). */
  missedAfterRefetch: Count,
  duplicated: Count,
  duplicatedBySeq: Count,
  gapsByPrev: Count,
  misrouted: Count,
  /** Numbered messages received that the publisher does not count as acknowledged. */
  unexpected: Count,
  replayed: Count,
  /** Clients that had something replayed. */
  replaying: Count,
  /** Clients whose first reconnect attempt had no `ready` within the connect timeout, tried again. */
  retried: Count,
  notRecovered: Count,
  failures: v.record(v.string(), Count),
});
export type RecoveryReport = v.InferOutput<typeof RecoveryReport>;

/** `churn`: clients that subscribe to a channel and unsubscribe again, over and over (Herald only). */
export const ChurningCommand = v.variant("type", [
  v.object({
    type: v.literal("connectChurning"),
    url: v.string(),
    firstUser: Count,
    count: Count,
    localAddresses: v.pipe(v.array(v.string()), v.minLength(1)),
    concurrency: v.pipe(Count, v.minValue(1)),
    timeoutMs: Count,
  }),
  v.object({ type: v.literal("churnStart") }),
  /** The measured window starts: counts so far are forgotten. */
  v.object({ type: v.literal("churnRecord") }),
  v.object({ type: v.literal("churnReport") }),
  /** No new cycle; answers once every client has let go of what it held (or after `timeoutMs`). */
  v.object({ type: v.literal("churnStop"), timeoutMs: Count }),
]);
export type ChurningCommand = v.InferOutput<typeof ChurningCommand>;

export const ChurnReport = v.object({
  /** Subscribe-then-unsubscribe cycles completed since `churnRecord`. */
  cycles: Count,
  /** `subscribe_error`s since `churnRecord`, by code. */
  refused: v.record(v.string(), Count),
  /** hdr-histogram of subscribe to `subscribed`, in microseconds, compressed base64. */
  histogram: v.string(),
  open: Count,
  closed: v.record(v.string(), Count),
});
export type ChurnReport = v.InferOutput<typeof ChurnReport>;

export const LoadgenCommand = v.variant("type", [
  ConnectCommand,
  ...RecoveringCommand.options,
  ...ChurningCommand.options,
  /** Start counting notifications of `run` (and forget earlier counts). */
  v.object({ type: v.literal("record"), run: Count }),
  v.object({ type: v.literal("stats") }),
  /** Just the count of notifications of the current run (cheap, polled while draining). */
  v.object({ type: v.literal("count") }),
  v.object({ type: v.literal("close") }),
  /**
   * Start reading again on the stalled clients not resumed yet (at most `count` of them; all when
   * absent); wait until those are closed or `timeoutMs` passed, then drop those still open.
   */
  v.object({ type: v.literal("resume"), count: v.optional(Count), timeoutMs: Count }),
]);
export type LoadgenCommand = v.InferOutput<typeof LoadgenCommand>;

export const LoadgenStats = v.object({
  run: Count,
  received: Count,
  /** Notifications of an older run arriving late, or with no readable stamp. */
  stray: Count,
  firstReceiptNs: v.number(),
  lastReceiptNs: v.number(),
  /** hdr-histogram of latencies in microseconds, compressed base64. */
  histogram: v.string(),
  open: Count,
  closedAfterReady: v.record(v.string(), Count),
});
export type LoadgenStats = v.InferOutput<typeof LoadgenStats>;

export const ResumeResult = v.object({
  resumed: Count,
  /** What each resumed client saw until it closed, e.g. "error SLOW_CONSUMER, close 4429"; or "still open". */
  outcomes: v.record(v.string(), Count),
  /** Close codes read by the resumed clients. */
  closeCodes: v.record(v.string(), Count),
  stillOpen: Count,
  /** Notifications each resumed client read after resuming (the backlog the kernel and server held). */
  notificationsRead: v.array(Count),
});
export type ResumeResult = v.InferOutput<typeof ResumeResult>;

export const ReceivedCount = v.object({ received: Count });

export const Empty = v.object({});

export const PublishTarget = v.picklist(["unicast", "broadcast"]);

/** `reconnect`: acknowledged (JetStream) publishes to random users, numbered per user, until stopped. */
export const StoredStartCommand = v.object({
  type: v.literal("storedStart"),
  run: Count,
  users: Count,
  rate: v.pipe(v.number(), v.minValue(0.1)),
  payloadBytes: Count,
});

export const StoredResult = v.object({
  /** Per user: numbered messages whose publish was acknowledged (indices 0 .. n-1). */
  acked: v.array(Count),
  /** Publishes that failed (no acknowledgement): their messages may or may not have been stored. */
  failed: Count,
  failures: v.record(v.string(), Count),
  startedNs: v.number(),
  endedNs: v.number(),
});
export type StoredResult = v.InferOutput<typeof StoredResult>;

export const PublisherCommand = v.variant("type", [
  StoredStartCommand,
  v.object({ type: v.literal("storedStop") }),
  v.object({
    type: v.literal("run"),
    run: Count,
    target: PublishTarget,
    users: Count,
    /** Notifications per second, paced every millisecond. */
    rate: v.pipe(v.number(), v.minValue(0.1)),
    durationMs: Count,
    payloadBytes: Count,
  }),
]);
export type PublisherCommand = v.InferOutput<typeof PublisherCommand>;

export const PublishResult = v.object({ sent: Count, startedNs: v.number(), endedNs: v.number() });
export type PublishResult = v.InferOutput<typeof PublishResult>;
