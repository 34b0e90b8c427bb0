import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { NatsAccessSchema, natsClientOptions } from "../nats/connection-options.js";
import { type PresenceSnapshot, type Subjects, subjectsFor } from "../protocol/index.js";
import { type AuthHandler, type AuthResponder, serveAuth } from "./auth-responder.js";
import {
  BackendOptionsSchema,
  ConnectOptionsSchema,
  type HeraldBackendOptions,
  type HeraldConnectOptions,
  PublishOptionsSchema,
  parseOptions,
} from "./backend-options.js";
import { type DisconnectOptions, publishDisconnect, publishUnsubscribe } from "./control.js";
import { type HeraldBackendError, NotConnectedError } from "./errors.js";
import {
  consumeEvents,
  type EventConsumerOptions,
  type EventHandler,
  type EventSubscription,
} from "./event-consumer.js";
import {
  InboxClient,
  type InboxMark,
  type InboxPage,
  type InboxPageOptions,
  type InboxRequestOptions,
  type Notified,
  type NotifyOptions,
  type UnreadCount,
} from "./inbox-client.js";
import { PresenceClient, type PresenceRequestOptions } from "./presence-client.js";
import {
  Publisher,
  type PublishOptions,
  type PublishResult,
  type PublishTarget,
  type SentMessage,
  type StoredMessage,
  type StoredPublishOptions,
} from "./publisher.js";
import type { ResponderOptions } from "./request-responder.js";
import { ResponderSet } from "./responder-set.js";
import { type RpcHandler, type RpcResponder, serveRpc } from "./rpc-responder.js";
import { type SubscribeHandler, type SubscribeResponder, serveSubscribe } from "./subscribe-responder.js";
import { consumeUnseen, type UnseenConsumerOptions, type UnseenHandler } from "./unseen-consumer.js";

function writeToStderr(error: HeraldBackendError): void {
  console.error(`[herald backend] ${error.code}: ${error.message}`);
}

export type { HeraldBackendOptions, HeraldConnectOptions } from "./backend-options.js";

/**
 * A Herald backend: answers the gateways' auth, subscribe and rpc requests, publishes notifications,
 * and tells every gateway to take a channel away or disconnect a user, over one NATS connection (its
 * own from connect(), or one the application already has).
 */
export class HeraldBackend {
  readonly prefix: string;
  readonly subjects: Subjects;
  readonly #publisher: Publisher;
  readonly #responders: ResponderSet;
  readonly #eventSubscriptions = new Set<EventSubscription>();
  readonly #presence: PresenceClient;
  readonly #inbox: InboxClient;
  readonly #onError: (error: HeraldBackendError) => void;
  #ownsConnection = false;

  /** Connects to NATS; the connection is closed by close(). */
  static async connect(options: HeraldConnectOptions): Promise<HeraldBackend> {
    const { prefix, history } = parseOptions(BackendOptionsSchema, {
      prefix: options.prefix,
      history: options.history,
    });
    const access = parseOptions(NatsAccessSchema, {
      servers: options.servers,
      user: options.user,
      pass: options.pass,
      token: options.token,
      credsFile: options.credsFile,
      tls: options.tls,
    });
    const { name, timeout } = parseOptions(ConnectOptionsSchema, {
      name: options.name,
      timeout: options.timeout,
    });
    let nc: NatsConnection;
    try {
      nc = await connect({
        ...(await natsClientOptions(access)),
        timeout,
        // A backend is long-lived: after the first connection, keep reconnecting for as long as it runs.
        maxReconnectAttempts: -1,
        ...(name !== undefined ? { name } : {}),
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new NotConnectedError(`cannot reach NATS at ${access.servers.join(", ")}: ${reason}`, {
        cause: error,
      });
    }
    const backend = new HeraldBackend(nc, {
      prefix,
      history,
      ...(options.onError ? { onError: options.onError } : {}),
    });
    backend.#ownsConnection = true;
    return backend;
  }

  /** Uses a connection the application already has; close() leaves it open. */
  constructor(
    readonly connection: NatsConnection,
    options: HeraldBackendOptions = {},
  ) {
    const { prefix, history } = parseOptions(BackendOptionsSchema, {
      prefix: options.prefix,
      history: options.history,
    });
    this.prefix = prefix;
    this.subjects = subjectsFor(prefix);
    this.#publisher = new Publisher(connection, this.subjects, history);
    this.#presence = new PresenceClient(connection, prefix);
    this.#inbox = new InboxClient(connection, prefix, this.#publisher);
    this.#onError = options.onError ?? writeToStderr;
    this.#responders = new ResponderSet(() => connection.isClosed(), this.#onError);
  }

  /**
   * Answers auth requests on `<prefix>.auth` in a queue group, so several backend instances share the
   * load. The handler's decision is validated before it is sent.
   */
  serveAuth(handler: AuthHandler, options: ResponderOptions = {}): AuthResponder {
    const settings = this.#responders.settings(options, "herald-auth");
    return this.#responders.track(
      serveAuth({ nc: this.connection, subject: this.subjects.auth, settings }, handler),
    );
  }

  /**
   * Answers the gateway's subscribe requests on `<prefix>.subscribe` in a queue group (default
   * `herald-subscribe`): whether a user may receive a channel a client subscribes to
   * (`channel.<name>`). The handler's decision, built with grant() or refuse(), is validated before
   * it is sent.
   */
  onSubscribe(handler: SubscribeHandler, options: ResponderOptions = {}): SubscribeResponder {
    const settings = this.#responders.settings(options, "herald-subscribe");
    const where = { nc: this.connection, subject: this.subjects.subscribe, settings };
    const responder = serveSubscribe(where, handler);
    return this.#responders.track(responder);
  }

  /**
   * Answers clients' `rpc` calls of `method` on `<prefix>.rpc.<method>`, in a queue group (default
   * `herald-rpc`) so that several backend instances share them. See RpcHandler for what the
   * handler's return or throw becomes. A method is served once per backend: stop() its responder first.
   */
  onRpc(method: string, handler: RpcHandler, options: ResponderOptions = {}): RpcResponder {
    const subject = this.subjects.rpc(method); // throws UnsafeNameError for an unsafe method
    const settings = this.#responders.settings(options, "herald-rpc");
    this.#responders.checkMethod(method);
    const responder = serveRpc({ nc: this.connection, subject, settings }, method, handler);
    return this.#responders.track(responder, method);
  }

  /**
   * Closes every connection of `user` on every gateway (`<prefix>.control.disconnect`): by default
   * for good — the client SDK stops (sign out everywhere, a ban) — or, with `{ reconnect: true }`,
   * to reconnect at once with a fresh token. Resolves once the NATS server has the message. A
   * gateway cut off from NATS at that moment misses it: revoke the user's tokens too.
   */
  async disconnect(user: string, options: DisconnectOptions = {}): Promise<void> {
    await publishDisconnect({ nc: this.connection, subjects: this.subjects }, user, options);
  }

  /**
   * Takes a channel (`channel.<name>`) away from every connection of `user` on every gateway
   * (`<prefix>.control.unsubscribe`), whether granted at auth or subscribed; each client gets
   * `unsubscribed` with reason `removed`. Resolves once the NATS server has the message. A gateway
   * cut off from NATS at that moment misses it: stop granting the channel to the user first.
   */
  async unsubscribe(user: string, channel: string): Promise<void> {
    await publishUnsubscribe({ nc: this.connection, subjects: this.subjects }, user, channel);
  }

  /**
   * Publishes to a user's personal channel (`<prefix>.user.<id>`; a string target is a user id) or a
   * shared one (`{ channel: name }`). With history on (the default) it resolves once the history
   * stream stored the message, exactly once: every attempt carries one `Nats-Msg-Id` (`msgId`, or a
   * generated one) and is retried through a stream-leader election or a NATS reconnect for up to
   * `timeout` ms; past that it rejects, and nothing was lost silently. `{ ack: false }` is fire and
   * forget instead: faster, and lost without an error whenever no stream stores it at that moment.
   * Concurrent publishes may be stored in any order when retried: await each one when order matters.
   */
  publish(
    target: PublishTarget,
    data: unknown,
    options: PublishOptions & { ack: false },
  ): Promise<SentMessage>;
  publish(target: PublishTarget, data: unknown, options?: PublishOptions): Promise<PublishResult>;
  async publish(target: PublishTarget, data: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    return this.#publisher.publish(target, data, parseOptions(PublishOptionsSchema, options));
  }

  /** publish() to a shared channel (`<prefix>.channel.<name>`). */
  publishToChannel(
    name: string,
    data: unknown,
    options: PublishOptions & { ack: false },
  ): Promise<SentMessage>;
  publishToChannel(name: string, data: unknown, options?: PublishOptions): Promise<PublishResult>;
  async publishToChannel(name: string, data: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    return this.publish({ channel: name }, data, options);
  }

  /**
   * An acknowledged publish whatever the backend's `history` option: resolves with the stream
   * sequence once the history stream stored the message. Rejects with NO_STREAM when no stream
   * captures the subject.
   */
  async publishStored(
    target: PublishTarget,
    data: unknown,
    options: StoredPublishOptions = {},
  ): Promise<StoredMessage> {
    return this.#publisher.publishStored(target, data, parseOptions(PublishOptionsSchema, options));
  }

  /**
   * Reads the gateways' connection events (`--events true`) with a durable consumer named
   * `options.durable`: one event at a time, in stream order, each acknowledged once `handler`
   * resolves. A backend that stops and starts again with the same name receives every event after
   * the last one it acknowledged; one that crashed mid-handler gets that event again (use `seq` or
   * `id` to handle each once). A handler that throws gets the same event again a second later.
   */
  async onEvent(handler: EventHandler, options: EventConsumerOptions): Promise<EventSubscription> {
    const report = options.onError ?? this.#onError;
    const subscription = await consumeEvents(
      { nc: this.connection, prefix: this.prefix, report },
      handler,
      options,
    );
    return this.#tracked(subscription);
  }

  /**
   * Reads the inbox's `unseen` events (gateways with `--inbox-unseen-after`): one per notification
   * no connection of its user marked seen in time, for the email or mobile push. A durable consumer
   * named `options.durable`, one event at a time, each acknowledged once `handler` resolves, as
   * `onEvent` reads connection events.
   */
  async onUnseen(
    handler: UnseenHandler,
    options: UnseenConsumerOptions & { onError?: (error: HeraldBackendError) => void },
  ): Promise<EventSubscription> {
    const { onError, ...rest } = options;
    const report = onError ?? this.#onError;
    const subscription = await consumeUnseen(
      { nc: this.connection, prefix: this.prefix, report },
      handler,
      rest,
    );
    return this.#tracked(subscription);
  }

  /** A consumer the backend stops at `close()`, unless it was stopped before. */
  #tracked(subscription: EventSubscription): EventSubscription {
    const tracked: EventSubscription = {
      durable: subscription.durable,
      stop: async () => {
        this.#eventSubscriptions.delete(tracked);
        await subscription.stop();
      },
    };
    this.#eventSubscriptions.add(tracked);
    return tracked;
  }

  /** A shared channel's members (by name: `room` for `channel.room`), across every gateway. */
  presence(channel: string, options?: PresenceRequestOptions): Promise<PresenceSnapshot> {
    return this.#presence.members(channel, options);
  }

  /** Which of `users` are online, with their number of connections; offline ones are left out. */
  online(
    users: string | readonly string[],
    options?: PresenceRequestOptions,
  ): Promise<Record<string, number>> {
    return this.#presence.online(users, options);
  }

  /**
   * Stores a notification in `user`'s inbox (`<prefix>.notify.<user>`, gateways with `--inbox
   * true`): every connection of the user gets it live, and it stays listed with its read, seen and
   * archived state until retention drops it. An acknowledged publish, deduplicated by `options.id`
   * and retried through a stream-leader election like `publish`; resolves with its id.
   */
  notify(user: string, data: unknown, options?: NotifyOptions): Promise<Notified> {
    return this.#inbox.notify(user, data, options);
  }

  /** The unread counts of `users` (at most 100), as the gateways keep them (exact up to their cap). */
  unread(
    users: string | readonly string[],
    options?: InboxRequestOptions,
  ): Promise<Record<string, UnreadCount>> {
    return this.#inbox.unread(users, options);
  }

  /**
   * Marks a user's notifications read, unread, seen or archived (ids, or all up to `upTo`), as if
   * the user had: every connection of the user gets the new count. Resolves once stored.
   */
  mark(user: string, mark: InboxMark, options?: InboxRequestOptions): Promise<void> {
    return this.#inbox.mark(user, mark, options);
  }

  /** A page of `user`'s inbox, newest first, each item with its read, seen and archived state. */
  inbox(user: string, options?: InboxPageOptions): Promise<InboxPage> {
    return this.#inbox.page(user, options);
  }

  /** Resolves once the NATS server has received everything published so far. */
  async flush(): Promise<void> {
    try {
      await this.connection.flush();
    } catch (error) {
      throw new NotConnectedError(`cannot flush: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Stops every responder (answering requests already received), flushes, and closes the
   * connection when connect() opened it (at once when NATS is unreachable).
   */
  async close(): Promise<void> {
    await this.#responders.stopAll();
    await Promise.all([...this.#eventSubscriptions].map((subscription) => subscription.stop()));
    if (this.connection.isClosed()) return;
    if (!this.#ownsConnection) return this.flush();
    // With NATS unreachable there is nothing to drain into: close anyway. Nothing acknowledged is
    // lost; unacknowledged publishes still buffered are.
    await this.connection.drain().catch(() => this.connection.close());
  }
}
