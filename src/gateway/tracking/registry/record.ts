import * as v from "valibot";
import { SafeName } from "../../../protocol/index.js";

/**
 * What the connection registry keeps of one open connection, as JSON in its gateway instance's
 * shard (`<instance>.<shard>` in the registry bucket). Short keys: a shard is rewritten whole on
 * every change of one of its connections.
 */
export const ConnectionEntry = v.object({
  /** The user. */
  u: SafeName,
  /** Channels (`channel.<name>`) whose presence the connection takes part in. */
  p: v.optional(v.array(v.pipe(v.string(), v.maxLength(200)))),
  /** The presence info the backend attached at auth. */
  i: v.optional(v.record(v.string(), v.unknown())),
  /**
   * Set once the connection has closed and until its `disconnected` event is stored: how it
   * ended, so a gateway that takes over after this one died publishes the event as it happened.
   * A closing connection no longer counts as present or online.
   */
  x: v.optional(
    v.object({
      code: v.number(),
      clean: v.boolean(),
      reason: v.optional(v.pipe(v.string(), v.maxLength(64))),
      time: v.number(),
    }),
  ),
});
export type ConnectionEntry = v.InferOutput<typeof ConnectionEntry>;

/** One shard: connection id -> entry. */
export const Shard = v.object({
  e: v.record(v.pipe(v.string(), v.maxLength(64)), ConnectionEntry),
});
export type Shard = v.InferOutput<typeof Shard>;

/** The marker key of a gateway instance: written first, deleted last; its presence lists the instance. */
export const MARKER_KEY = "gateway";

export const InstanceMarker = v.object({
  gateway: v.pipe(v.string(), v.maxLength(64)),
  instance: v.pipe(v.string(), v.maxLength(100)),
  started: v.number(),
});
export type InstanceMarker = v.InferOutput<typeof InstanceMarker>;

/** Shards per instance: a change rewrites one of them, and a reaper reads them all. */
export const SHARDS = 256;

/** The shard a connection's entry lives in (FNV-1a of its id). */
export function shardOf(connection: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < connection.length; i++) {
    hash ^= connection.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % SHARDS;
}

/** Whether two entries say the same (entries are small; presence lists are short). */
export function sameEntry(a: ConnectionEntry, b: ConnectionEntry): boolean {
  return (
    a.u === b.u &&
    (a.x === undefined) === (b.x === undefined) &&
    (a.p ?? []).join("\n") === (b.p ?? []).join("\n") &&
    JSON.stringify(a.i) === JSON.stringify(b.i)
  );
}
