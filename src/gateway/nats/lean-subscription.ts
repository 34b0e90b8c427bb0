import type { Msg, NatsConnection } from "@nats-io/nats-core";
import type { NatsConnectionImpl } from "@nats-io/nats-core/internal";

/** What a channel's subscription is to the hub: a way to end it. */
export interface Unsubscribable {
  unsubscribe(): void;
}

/**
 * Where a subscription's messages go: one function for every subscription of its kind, told which
 * `owner` the message is for (so a subscription holds no closure of its own). `err` is set when the
 * server refused the subscription (a permission violation); the subscription is then closed.
 */
export type LeanHandler<T> = (owner: T, err: Error | null, msg: Msg) => void;

/**
 * The part of nats.js's protocol handler (not its public API) that subscriptions are registered
 * with, as `NatsConnection.subscribe` registers its own: it assigns `sid`, counts `received`, calls
 * `callback` with each message, resends the SUBs after a reconnect, and calls `close` when the
 * subscription or the connection ends (and `drain` when the connection drains).
 */
interface ProtocolHandler {
  subscribe(sub: object): unknown;
  unsubscribe(sub: object, max?: number): void;
  unsub(sub: object, max?: number): void;
  flush(): Promise<void>;
  isClosed(): boolean;
  readonly subscriptions: { cancel(sub: object): void };
}

/**
 * A plain NATS subscription with a callback, for the gateway's one subscription per channel (so
 * one per user on the gateway). nats.js's own subscription object is also an async iterator, with
 * three promises, their resolvers and a queue that a callback never uses: about 1.2 KiB each. This
 * one holds its subject, id, owner and counters (about 0.1 KiB): the same SUB, UNSUB and messages
 * on the wire, registered where the library registers its own.
 */
class LeanSubscription<T> implements Unsubscribable {
  /** Set by the protocol handler when registered, and anew at each resubscribe. */
  sid = 0;
  received = 0;
  max: number | undefined = undefined;
  /** Read by the protocol handler: no queue group, not a request's subscription. */
  readonly queue: undefined = undefined;
  readonly requestSubject: undefined = undefined;
  private closed = false;

  constructor(
    private readonly protocol: ProtocolHandler,
    readonly subject: string,
    private readonly owner: T,
    private readonly handler: LeanHandler<T>,
  ) {}

  /** Called by the protocol handler with each message, or with the server's refusal. */
  callback(err: Error | null, msg: Msg): void {
    this.handler(this.owner, err, msg);
  }

  unsubscribe(max?: number): void {
    if (this.closed || this.protocol.isClosed()) return;
    this.protocol.unsubscribe(this, max);
  }

  /** Called by the protocol handler when the subscription ends (with the connection, too). */
  close(): void {
    this.closed = true;
  }

  isClosed(): boolean {
    return this.closed;
  }

  /** The connection drains: no more messages after those the server already sent. */
  drain(): Promise<void> {
    if (this.closed || this.protocol.isClosed()) return Promise.resolve();
    this.protocol.unsub(this);
    const cancel = () => this.protocol.subscriptions.cancel(this);
    return this.protocol.flush().then(cancel, cancel);
  }
}

/**
 * Subscribes `subject` for `owner`, its messages handed to `handler`: a lean subscription where the
 * client library offers the way to register one, else the library's own (`nc.subscribe`), which
 * also throws its errors for a connection that is closed or draining.
 */
export function subscribeLean<T>(
  nc: NatsConnection,
  subject: string,
  owner: T,
  handler: LeanHandler<T>,
): Unsubscribable {
  const protocol = protocolOf(nc);
  if (!protocol || nc.isClosed() || nc.isDraining()) {
    return nc.subscribe(subject, { callback: (err, msg) => handler(owner, err, msg) });
  }
  const sub = new LeanSubscription(protocol, subject, owner, handler);
  protocol.subscribe(sub);
  return sub;
}

function protocolOf(nc: NatsConnection): ProtocolHandler | undefined {
  const protocol = (nc as Partial<NatsConnectionImpl>).protocol as Partial<ProtocolHandler> | undefined;
  if (
    typeof protocol?.subscribe !== "function" ||
    typeof protocol.unsubscribe !== "function" ||
    typeof protocol.unsub !== "function" ||
    typeof protocol.flush !== "function" ||
    typeof protocol.isClosed !== "function" ||
    typeof protocol.subscriptions?.cancel !== "function"
  )
    return undefined;
  return protocol as ProtocolHandler;
}
