import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import type { Counter } from "prom-client";
import * as v from "valibot";
import {
  ControlDisconnect,
  ControlUnsubscribe,
  type ErrorCodeName,
  formatIssues,
  quote,
  type Subjects,
  type UnsubscribeReason,
} from "../../protocol/index.js";
import type { Logger } from "../logger.js";

/** A connection a control message can act on. */
export interface Controllable {
  fail(code: ErrorCodeName, message: string): void;
  /** Its channels: one can be taken away (false when it does not hold it). */
  readonly subscriptions: { remove(channel: string, reason: UnsubscribeReason): boolean };
}

/** This gateway's connections, by user. */
export interface ConnectionsByUser {
  ofUser(user: string): readonly Controllable[];
}

/** A control message remembered for connections whose auth answer is still on its way. */
interface Arrival {
  /** When it arrived, on the monotonic clock (performance.now()): a clock step cannot hide it. */
  readonly at: number;
}

/** What a connection of a disconnected user is closed with. */
export interface Disconnection extends Arrival {
  readonly code: ErrorCodeName;
  readonly message: string;
}

export interface ControlListenerOptions {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  /** The connections control messages act on (the session registry). */
  readonly connections: ConnectionsByUser;
  readonly logger: Logger;
  /**
   * How long a control message is remembered: longer than an auth answer can take from the
   * request's publication to its arrival (the auth request timeout and then some).
   */
  readonly rememberMs: number;
  /** The most control messages of each kind remembered at once (`--remembered-revocations`). */
  readonly capacity: number;
  /** Counts the ones forgotten before `rememberMs` because more arrived. */
  readonly forgottenEarly: Pick<Counter, "inc">;
}

/** At most one warning a minute that control messages are forgotten early. */
const WARN_EVERY_MS = 60_000;

/**
 * The backend's control messages, `<prefix>.control.<kind>`, plain NATS publishes from any
 * language. Every gateway subscribes without a queue group and acts on its own connections; one
 * case per kind. A message that breaks its kind's schema is logged (briefly) and dropped.
 */
export class ControlListener {
  private readonly subscription: Subscription;
  private readonly decoder = new TextDecoder();
  /**
   * Recent disconnects by user and removals by user and channel: a connection whose auth was asked
   * before one and answered after it has no user yet when it arrives, and checks here.
   */
  private readonly disconnects: RecentArrivals<Disconnection>;
  private readonly removals: RecentArrivals<Arrival>;
  private lastWarned = Number.NEGATIVE_INFINITY;
  private forgottenSinceWarned = 0;

  private readonly nc: NatsConnection;
  private readonly connections: ConnectionsByUser;
  private readonly logger: Logger;

  constructor(options: ControlListenerOptions) {
    const { nc, subjects, connections, logger, rememberMs, capacity } = options;
    this.nc = nc;
    this.connections = connections;
    this.logger = logger;
    const forgotten = () => this.forgotten(options);
    this.disconnects = new RecentArrivals(rememberMs, capacity, forgotten);
    this.removals = new RecentArrivals(rememberMs, capacity, forgotten);
    const kindAt = subjects.controlAll.length - 1; // `<prefix>.control.` then the kind
    this.subscription = nc.subscribe(subjects.controlAll, {
      callback: (err, msg) => {
        if (err) return void logger.error({ err: err.message }, "control subscription failed");
        try {
          this.handle(msg.subject.slice(kindAt), msg.data);
        } catch (error) {
          logger.error({ err: error instanceof Error ? error : String(error) }, "control message failed");
        }
      },
    });
  }

  /** Resolves once the NATS server has the subscription: control messages from then on arrive. */
  ready(): Promise<void> {
    return this.nc.flush();
  }

  close(): void {
    if (!this.nc.isClosed()) this.subscription.unsubscribe();
  }

  /**
   * A disconnect of `user` that arrived after `askedAt` (performance.now()), when a connection's
   * auth was asked: the backend may have answered it before disconnecting.
   */
  disconnectedSince(user: string, askedAt: number): Disconnection | undefined {
    return this.disconnects.since(user, askedAt);
  }

  /** Whether `channel` was taken from `user` after `askedAt`, when a connection's auth was asked. */
  removedSince(user: string, channel: string, askedAt: number): boolean {
    return this.removals.since(`${user} ${channel}`, askedAt) !== undefined;
  }

  /** One remembered too briefly: counted, and said at most once a minute with what to change. */
  private forgotten({ forgottenEarly, rememberMs, capacity }: ControlListenerOptions): void {
    forgottenEarly.inc();
    this.forgottenSinceWarned++;
    const now = performance.now();
    if (now - this.lastWarned < WARN_EVERY_MS) return;
    this.logger.warn(
      { forgotten: this.forgottenSinceWarned, capacity, rememberMs },
      "more control messages of one kind arrived within the window than --remembered-revocations keeps: " +
        "a connection whose auth was answered before a forgotten one may keep what it revoked; raise --remembered-revocations",
    );
    this.lastWarned = now;
    this.forgottenSinceWarned = 0;
  }

  private handle(kind: string, data: Uint8Array): void {
    switch (kind) {
      case "disconnect": {
        const message = this.parse(kind, ControlDisconnect, data);
        if (message) this.disconnect(message);
        return;
      }
      case "unsubscribe": {
        const message = this.parse(kind, ControlUnsubscribe, data);
        if (message) this.unsubscribe(message);
        return;
      }
      default:
        this.logger.warn({ kind: quote(kind) }, "unknown control message kind ignored");
    }
  }

  private parse<const S extends v.GenericSchema>(
    kind: string,
    schema: S,
    data: Uint8Array,
  ): v.InferOutput<S> | undefined {
    let json: unknown;
    try {
      json = JSON.parse(this.decoder.decode(data));
    } catch {
      this.logger.warn({ kind, bytes: data.length }, "control message is not JSON; ignored");
      return undefined;
    }
    const parsed = v.safeParse(schema, json);
    if (parsed.success) return parsed.output;
    this.logger.warn({ kind, issues: formatIssues(parsed.issues) }, "invalid control message ignored");
    return undefined;
  }

  /** Closes every connection of the user here, with the code that says whether to come back. */
  private disconnect({ user, reconnect, reason }: ControlDisconnect): void {
    const code: ErrorCodeName = reconnect === true ? "RECONNECT_REQUESTED" : "DISCONNECTED";
    const what =
      reconnect === true
        ? "the backend asked this user's connections to reconnect"
        : "the backend disconnected this user";
    const message = reason ? `${what}: ${quote(reason)}` : what;
    this.disconnects.add(user, { code, message, at: performance.now() });
    const connections = this.connections.ofUser(user);
    for (const connection of connections) connection.fail(code, message);
    this.logger.info(
      { user, reconnect: reconnect === true, connections: connections.length },
      "user disconnected",
    );
  }

  /**
   * Takes a channel away from every connection of the user here, whatever its state (telling each
   * ready client, `removed`), and remembers it for the connections still authenticating.
   */
  private unsubscribe({ user, channel }: ControlUnsubscribe): void {
    this.removals.add(`${user} ${channel}`, { at: performance.now() });
    let removed = 0;
    for (const connection of this.connections.ofUser(user)) {
      if (connection.subscriptions.remove(channel, "removed")) removed++;
    }
    this.logger.info({ user, channel, removed }, "channel taken away");
  }
}

/**
 * What arrived lately, by key, in arrival order: kept for `rememberMs`, and at most `capacity` of
 * them — past that the oldest go first, so a backend that publishes without end cannot grow the
 * gateway's memory without end. Keys are safe names joined by a space, which none holds.
 */
class RecentArrivals<T extends Arrival> {
  private readonly entries = new Map<string, T>();

  constructor(
    private readonly rememberMs: number,
    private readonly capacity: number,
    private readonly forgottenEarly: () => void,
  ) {}

  add(key: string, arrival: T): void {
    this.forgetOld(arrival.at);
    this.entries.delete(key); // re-inserted last: the map stays in arrival order
    this.entries.set(key, arrival);
    if (this.entries.size <= this.capacity) return;
    const oldest = this.entries.keys().next().value as string;
    this.entries.delete(oldest);
    this.forgottenEarly();
  }

  /** What arrived under `key` at or after `askedAt`, if still remembered. */
  since(key: string, askedAt: number): T | undefined {
    this.forgetOld(performance.now());
    const found = this.entries.get(key);
    return found && found.at >= askedAt ? found : undefined;
  }

  private forgetOld(now: number): void {
    for (const [key, arrival] of this.entries) {
      if (now - arrival.at <= this.rememberMs) return;
      this.entries.delete(key);
    }
  }
}
