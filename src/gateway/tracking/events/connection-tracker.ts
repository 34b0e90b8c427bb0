import {
  type ConnectionEvent,
  type EventKind,
  GATEWAY_LOST,
  type PresenceInfo,
} from "../../../protocol/index.js";
import type { ConnectionClose, ConnectionGrant, TrackedConnection, Tracking } from "../../gateway-context.js";
import type { Logger } from "../../logger.js";
import type { PresenceHub } from "../presence/presence-hub.js";
import type { ConnectionEntry, InstanceMarker } from "../registry/record.js";
import type { Instance, Registry } from "../registry/registry.js";
import type { TrackingMetrics } from "../registry/tracking-metrics.js";
import type { EventPublisher } from "./event-publisher.js";
import { UNTRACKED } from "./untracked.js";

interface Tracked {
  readonly user: string;
  readonly instance: Instance;
  readonly presence: string[];
  readonly info: PresenceInfo | undefined;
  /** The shared channels the connection holds (`channel.<name>`), for its `dropped` events. */
  readonly channels: string[];
  /** This connection's events, stored one after the other, so they are stored in order. */
  chain: Promise<unknown>;
  /** Events made so far: the next event's id. */
  events: number;
  /** Its subscribed and unsubscribed events of this minute. */
  churn: Churn | undefined;
}

/** A connection's subscribed and unsubscribed events in one minute, from the first of them. */
interface Churn {
  /** `performance.now()` of the first. */
  readonly start: number;
  stored: number;
  /** Not stored: over the limit. */
  dropped: number;
  /** The minute's end, when its `dropped` event is stored; set once one is dropped. */
  timer: NodeJS.Timeout | undefined;
}

/** Reaped connections' events stored at once at most. */
const REAP_CONCURRENCY = 256;
/** `--events-subscribe-limit` counts per this long. */
const CHURN_WINDOW_MS = 60_000;
/** At most one warning this often about events over the limit, with the count since the last. */
const WARN_EVERY_MS = 10_000;

export interface ConnectionTrackerOptions {
  readonly registry: Registry;
  /** Undefined with `--events false`. */
  readonly events: EventPublisher | undefined;
  /** Undefined with `--presence false`. */
  readonly presence: PresenceHub | undefined;
  readonly gatewayId: string;
  /** `--events-subscribe-limit`: subscribed and unsubscribed events stored per connection per minute. */
  readonly subscribeLimit: number;
  readonly metrics: TrackingMetrics;
  readonly logger: Logger;
}

/**
 * Connection events and presence for this gateway's connections, driven by the session hooks
 * (`Tracking`). A ready connection is written to the registry first (so that, from then
 * on, a gateway that outlives this one publishes its `disconnected`), then its `connected` and
 * its `subscribed` events are stored, one after the other. When it closes, its record says so
 * (presence drops it at once), its `disconnected` is stored, and only then is the record deleted.
 *
 * A connection's subscribes and unsubscribes after `ready` store at most `subscribeLimit` events
 * in each minute (counted from the first of them): the rest are not stored, and at the minute's
 * end (or before its `disconnected`) one `dropped` event says how many were not and lists the
 * channels the connection holds then. So subscribe churn cannot fill the stream, and a consumer
 * always knows when it missed something and where the connection stands.
 */
export class ConnectionTracker implements Tracking {
  private readonly tracked = new Map<TrackedConnection, Tracked>();
  private readonly pending = new Set<Promise<unknown>>();
  private stopped = false;
  /** Events over the limit since the last warning, and when that was. */
  private droppedSinceWarning = 0;
  private warnedAt = Number.NEGATIVE_INFINITY;

  private readonly registry: Registry;
  private readonly events: EventPublisher | undefined;
  private readonly presence: PresenceHub | undefined;
  private readonly gatewayId: string;
  private readonly subscribeLimit: number;
  private readonly metrics: TrackingMetrics;
  private readonly logger: Logger;

  constructor({
    registry,
    events,
    presence,
    gatewayId,
    subscribeLimit,
    metrics,
    logger,
  }: ConnectionTrackerOptions) {
    this.registry = registry;
    this.events = events;
    this.presence = presence;
    this.gatewayId = gatewayId;
    this.subscribeLimit = subscribeLimit;
    this.metrics = metrics;
    this.logger = logger;
  }

  ready(connection: TrackedConnection, grant: ConnectionGrant): void {
    const instance = this.registry.current;
    const tracked: Tracked = {
      user: grant.user,
      instance,
      presence: [...grant.presence],
      info: grant.info,
      channels: [...grant.channels],
      chain: Promise.resolve(),
      events: 0,
      churn: undefined,
    };
    this.tracked.set(connection, tracked);
    for (const channel of tracked.presence) this.presence?.add(connection, tracked.user, channel);
    const stored = instance.records.set(connection.id, this.entryOf(tracked));
    if (!this.events) return;
    this.queue(tracked, async () => {
      if (!(await stored)) return; // the instance lapsed first: the connection is being closed
      if (!(await this.emit(connection, tracked, "connected"))) return;
      for (const channel of grant.channels) await this.emit(connection, tracked, "subscribed", { channel });
    });
  }

  subscribed(connection: TrackedConnection, channel: string, presence: boolean): void {
    const tracked = this.tracked.get(connection);
    if (!tracked) return;
    if (!tracked.channels.includes(channel)) tracked.channels.push(channel);
    if (presence && !tracked.presence.includes(channel)) {
      tracked.presence.push(channel);
      this.presence?.add(connection, tracked.user, channel);
      void tracked.instance.records.set(connection.id, this.entryOf(tracked));
    }
    this.churn(connection, tracked, "subscribed", channel);
  }

  unsubscribed(connection: TrackedConnection, channel: string): void {
    const tracked = this.tracked.get(connection);
    if (!tracked) return;
    const held = tracked.channels.indexOf(channel);
    if (held >= 0) tracked.channels.splice(held, 1);
    const at = tracked.presence.indexOf(channel);
    if (at >= 0) {
      tracked.presence.splice(at, 1);
      this.presence?.remove(connection, tracked.user, channel);
      void tracked.instance.records.set(connection.id, this.entryOf(tracked));
    }
    this.churn(connection, tracked, "unsubscribed", channel);
  }

  closed(connection: TrackedConnection, close: ConnectionClose): void {
    const tracked = this.tracked.get(connection);
    if (!tracked) return;
    this.tracked.delete(connection);
    for (const channel of tracked.presence) this.presence?.remove(connection, tracked.user, channel);
    const { records } = tracked.instance;
    if (!this.events) return records.delete(connection.id);
    this.storeDropped(connection, tracked);
    const ended = {
      code: close.code,
      clean: close.byClient,
      time: Date.now(),
      ...(close.reason === undefined ? {} : { reason: close.reason.slice(0, 64) }),
    };
    // Until its disconnected is stored, the record keeps how the connection ended.
    void records.set(connection.id, { ...this.entryOf(tracked), x: ended });
    this.queue(tracked, async () => {
      const event = this.event(
        connection.id,
        tracked.user,
        "disconnected",
        `${tracked.instance.id}:${connection.id}:disconnected`,
        ended.time,
      );
      event.code = ended.code;
      event.clean = ended.clean;
      if (ended.reason !== undefined) event.reason = ended.reason;
      // Stored once whoever stores it, so tried for as long as this gateway runs.
      if (await this.events?.publish(event, () => !this.stopped)) records.delete(connection.id);
    });
  }

  presenceRequested(connection: TrackedConnection, channel: string): void {
    if (this.presence) this.presence.answer(connection, channel);
    else UNTRACKED.presenceRequested(connection, channel);
  }

  /** The registry instance lapsed: its connections are ended, to register again with the next one. */
  lapsed(instance: Instance): void {
    for (const [connection, tracked] of [...this.tracked]) {
      if (tracked.instance === instance)
        connection.fail("INTERRUPTED", "the gateway lost its place in the cluster; reconnect");
    }
  }

  /** Stores the `disconnected` events of a dead gateway instance's connections (see Reaper). */
  async reap(
    marker: InstanceMarker,
    connections: readonly (readonly [string, ConnectionEntry])[],
  ): Promise<void> {
    const events = this.events;
    if (!events) return;
    const queue = [...connections];
    let failed = false;
    const worker = async () => {
      for (let next = queue.pop(); next && !failed; next = queue.pop()) {
        const [connection, entry] = next;
        const event = this.event(
          connection,
          entry.u,
          "disconnected",
          `${marker.instance}:${connection}:disconnected`,
          entry.x?.time ?? Date.now(),
        );
        event.gateway = marker.gateway;
        event.code = entry.x?.code ?? 1006;
        event.clean = entry.x?.clean ?? false;
        event.reason = entry.x ? entry.x.reason : GATEWAY_LOST;
        if (event.reason === undefined) delete event.reason;
        if (!(await events.publish(event, () => !this.stopped))) failed = true;
      }
    };
    await Promise.all(Array.from({ length: Math.min(REAP_CONCURRENCY, queue.length) }, worker));
    if (failed)
      throw new Error("some disconnected events were not stored; the claim will expire and be taken again");
  }

  /** Waits (at most `ms`) for the events under way, then gives up on the rest (a reaper has them). */
  async settle(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    await Promise.race([Promise.allSettled([...this.pending]), late]);
    clearTimeout(timer);
    this.stopped = true;
  }

  get size(): number {
    return this.tracked.size;
  }

  private entryOf(tracked: Tracked): ConnectionEntry {
    const entry: ConnectionEntry = { u: tracked.user };
    if (tracked.presence.length > 0) entry.p = [...tracked.presence];
    if (tracked.info !== undefined) entry.i = tracked.info;
    return entry;
  }

  /**
   * A subscribed or unsubscribed event after `ready`: stored while the connection's minute is
   * under the limit, else counted for the minute's `dropped` event.
   */
  private churn(
    connection: TrackedConnection,
    tracked: Tracked,
    kind: "subscribed" | "unsubscribed",
    channel: string,
  ): void {
    if (!this.events) return;
    const now = performance.now();
    // A minute over without a drop has no timer: the next event starts the next minute.
    if (tracked.churn && now - tracked.churn.start >= CHURN_WINDOW_MS) tracked.churn = undefined;
    tracked.churn ??= { start: now, stored: 0, dropped: 0, timer: undefined };
    const churn = tracked.churn;
    if (churn.stored < this.subscribeLimit) {
      churn.stored++;
      this.queue(tracked, () => this.emit(connection, tracked, kind, { channel }));
      return;
    }
    churn.dropped++;
    this.metrics.eventsDropped.inc({ kind });
    this.warnDropped(connection, tracked);
    if (churn.timer) return;
    churn.timer = setTimeout(
      () => this.storeDropped(connection, tracked),
      churn.start + CHURN_WINDOW_MS - now,
    );
    churn.timer.unref();
  }

  /** Ends the connection's minute: its `dropped` event is stored if any were. */
  private storeDropped(connection: TrackedConnection, tracked: Tracked): void {
    const churn = tracked.churn;
    if (!churn) return;
    clearTimeout(churn.timer);
    tracked.churn = undefined;
    if (churn.dropped === 0) return;
    const extra = { count: churn.dropped, channels: [...tracked.channels] };
    this.queue(tracked, () => this.emit(connection, tracked, "dropped", extra));
  }

  private warnDropped(connection: TrackedConnection, tracked: Tracked): void {
    this.droppedSinceWarning++;
    const now = performance.now();
    if (now - this.warnedAt < WARN_EVERY_MS) return;
    this.logger.warn(
      {
        connection: connection.id,
        user: tracked.user,
        notStored: this.droppedSinceWarning,
        limit: this.subscribeLimit,
      },
      "subscribed/unsubscribed events over --events-subscribe-limit (per connection per minute) not stored; each such connection's dropped event says how many. Raise the limit if your clients subscribe this often",
    );
    this.warnedAt = now;
    this.droppedSinceWarning = 0;
  }

  /** Runs `step` after the connection's earlier events, keeping track of it for `settle`. */
  private queue(tracked: Tracked, step: () => Promise<unknown>): void {
    // Nothing in a step throws on purpose; whatever does must not stop the connection's later events.
    const run = () => step().catch(() => false);
    const next = tracked.chain.then(run, run);
    tracked.chain = next;
    this.pending.add(next);
    void next.finally(() => this.pending.delete(next));
  }

  private emit(
    connection: TrackedConnection,
    tracked: Tracked,
    kind: Exclude<EventKind, "disconnected">,
    extra: { channel?: string; count?: number; channels?: string[] } = {},
  ): Promise<boolean> {
    const event = this.event(
      connection.id,
      tracked.user,
      kind,
      `${tracked.instance.id}:${connection.id}:${tracked.events++}`,
      Date.now(),
    );
    if (extra.channel !== undefined) event.channel = extra.channel;
    if (extra.count !== undefined) event.count = extra.count;
    if (extra.channels !== undefined) event.channels = extra.channels;
    // Only while the instance lives: after a lapse its `disconnected` may already be stored.
    return (
      this.events?.publish(event, () => tracked.instance.current && !this.stopped) ?? Promise.resolve(false)
    );
  }

  private event(
    connection: string,
    user: string,
    kind: EventKind,
    id: string,
    time: number,
  ): ConnectionEvent {
    return { id, kind, user, connection, gateway: this.gatewayId, time };
  }
}
