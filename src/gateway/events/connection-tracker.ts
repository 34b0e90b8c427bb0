import {
  type ConnectionEvent,
  type EventKind,
  GATEWAY_LOST,
  type PresenceInfo,
} from "../../protocol/index.js";
import type {
  ConnectionClose,
  ConnectionEvents,
  ConnectionGrant,
  TrackedConnection,
} from "../gateway-context.js";
import type { PresenceHub } from "../presence/presence-hub.js";
import type { ConnectionEntry, InstanceMarker } from "../registry/record.js";
import type { Instance, Registry } from "../registry/registry.js";
import type { EventPublisher } from "./event-publisher.js";
import { UNTRACKED } from "./untracked.js";

interface Tracked {
  readonly user: string;
  readonly instance: Instance;
  readonly presence: string[];
  readonly info: PresenceInfo | undefined;
  /** This connection's events, stored one after the other, so they are stored in order. */
  chain: Promise<unknown>;
  /** Events made so far: the next event's id. */
  events: number;
}

/** Reaped connections' events stored at once at most. */
const REAP_CONCURRENCY = 256;

export interface ConnectionTrackerOptions {
  readonly registry: Registry;
  /** Undefined with `--events false`. */
  readonly events: EventPublisher | undefined;
  /** Undefined with `--presence false`. */
  readonly presence: PresenceHub | undefined;
  readonly gatewayId: string;
}

/**
 * Connection events and presence for this gateway's connections, driven by the session hooks
 * (`ConnectionEvents`). A ready connection is written to the registry first (so that, from then
 * on, a gateway that outlives this one publishes its `disconnected`), then its `connected` and
 * its `subscribed` events are stored, one after the other. When it closes, its record says so
 * (presence drops it at once), its `disconnected` is stored, and only then is the record deleted.
 */
export class ConnectionTracker implements ConnectionEvents {
  private readonly tracked = new Map<TrackedConnection, Tracked>();
  private readonly pending = new Set<Promise<unknown>>();
  private stopped = false;

  private readonly registry: Registry;
  private readonly events: EventPublisher | undefined;
  private readonly presence: PresenceHub | undefined;
  private readonly gatewayId: string;

  constructor({ registry, events, presence, gatewayId }: ConnectionTrackerOptions) {
    this.registry = registry;
    this.events = events;
    this.presence = presence;
    this.gatewayId = gatewayId;
  }

  ready(connection: TrackedConnection, grant: ConnectionGrant): void {
    const instance = this.registry.current;
    const tracked: Tracked = {
      user: grant.user,
      instance,
      presence: [...grant.presence],
      info: grant.info,
      chain: Promise.resolve(),
      events: 0,
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
    if (presence && !tracked.presence.includes(channel)) {
      tracked.presence.push(channel);
      this.presence?.add(connection, tracked.user, channel);
      void tracked.instance.records.set(connection.id, this.entryOf(tracked));
    }
    this.queue(tracked, () => this.emit(connection, tracked, "subscribed", { channel }));
  }

  unsubscribed(connection: TrackedConnection, channel: string): void {
    const tracked = this.tracked.get(connection);
    if (!tracked) return;
    const at = tracked.presence.indexOf(channel);
    if (at >= 0) {
      tracked.presence.splice(at, 1);
      this.presence?.remove(connection, tracked.user, channel);
      void tracked.instance.records.set(connection.id, this.entryOf(tracked));
    }
    this.queue(tracked, () => this.emit(connection, tracked, "unsubscribed", { channel }));
  }

  closed(connection: TrackedConnection, close: ConnectionClose): void {
    const tracked = this.tracked.get(connection);
    if (!tracked) return;
    this.tracked.delete(connection);
    for (const channel of tracked.presence) this.presence?.remove(connection, tracked.user, channel);
    const { records } = tracked.instance;
    if (!this.events) return records.delete(connection.id);
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
    extra: { channel?: string } = {},
  ): Promise<boolean> {
    const event = this.event(
      connection.id,
      tracked.user,
      kind,
      `${tracked.instance.id}:${connection.id}:${tracked.events++}`,
      Date.now(),
    );
    if (extra.channel !== undefined) event.channel = extra.channel;
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
