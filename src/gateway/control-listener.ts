import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import * as v from "valibot";
import {
  ControlDisconnect,
  ControlUnsubscribe,
  type ErrorCodeName,
  formatIssues,
  quote,
  type Subjects,
  type UnsubscribeReason,
} from "../protocol/index.js";
import type { Logger } from "./logger.js";

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

/** What a connection of a disconnected user is closed with. */
export interface Disconnection {
  readonly code: ErrorCodeName;
  readonly message: string;
  /** When it arrived (Date.now()). */
  readonly at: number;
}

export interface ControlListenerOptions {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  /** The connections control messages act on (the session registry). */
  readonly connections: ConnectionsByUser;
  readonly logger: Logger;
  /** The longest an auth request can be waiting: the auth request timeout and then some. */
  readonly rememberMs: number;
}

/**
 * The backend's control messages, `<prefix>.control.<kind>`, plain NATS publishes from any
 * language. Every gateway subscribes without a queue group and acts on its own connections; one
 * case per kind. A message that breaks its kind's schema is logged (briefly) and dropped.
 */
export class ControlListener {
  private readonly subscription: Subscription;
  private readonly decoder = new TextDecoder();
  /**
   * Recent disconnects by user, oldest first, kept for `rememberMs`: a connection whose auth was
   * asked before one and answered after it has no user yet when it arrives, and checks here.
   */
  private readonly recent = new Map<string, Disconnection>();

  private readonly nc: NatsConnection;
  private readonly connections: ConnectionsByUser;
  private readonly logger: Logger;
  private readonly rememberMs: number;

  constructor({ nc, subjects, connections, logger, rememberMs }: ControlListenerOptions) {
    this.nc = nc;
    this.connections = connections;
    this.logger = logger;
    this.rememberMs = rememberMs;
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

  /** A disconnect of `user` that arrived after `askedAt`, when a connection's auth was asked. */
  disconnectedSince(user: string, askedAt: number): Disconnection | undefined {
    this.forgetOld(Date.now());
    const found = this.recent.get(user);
    return found && found.at >= askedAt ? found : undefined;
  }

  private forgetOld(now: number): void {
    for (const [user, disconnection] of this.recent) {
      if (now - disconnection.at <= this.rememberMs) return;
      this.recent.delete(user);
    }
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
    const at = Date.now();
    this.forgetOld(at);
    this.recent.delete(user); // re-inserted last: the map stays in arrival order
    this.recent.set(user, { code, message, at });
    const connections = this.connections.ofUser(user);
    for (const connection of connections) connection.fail(code, message);
    this.logger.info(
      { user, reconnect: reconnect === true, connections: connections.length },
      "user disconnected",
    );
  }

  /** Takes a channel away from every connection of the user here, telling each client (`removed`). */
  private unsubscribe({ user, channel }: ControlUnsubscribe): void {
    let removed = 0;
    for (const connection of this.connections.ofUser(user)) {
      if (connection.subscriptions.remove(channel, "removed")) removed++;
    }
    this.logger.info({ user, channel, removed }, "channel taken away");
  }
}
