import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../logger.js";

type Listener<T> = (value: T) => void;

/**
 * The gateway's view of its NATS connection's status: the one reader of `nc.status()`. It keeps
 * whether the connection can serve and tells the parts that act on a change (listeners run in the
 * order they were added, after the link's own state has changed):
 * - disconnect / reconnect: the connection was lost / is back, with the server named;
 * - update: the cluster advertised other servers;
 * - error: an asynchronous error from the server (e.g. a permission violation).
 *
 * Whether it can serve: connected, and the server answering. A hung server keeps the TCP connection
 * up while answering nothing, so "connected" alone stays true for as long as it takes the client to
 * give up on it; the client's pings tell sooner. Each ping tick reports how many pings are
 * outstanding: more than one means the last ping went a whole interval unanswered. Then the gateway
 * is not ready (the load balancer sends new clients elsewhere) and auth requests fail at once
 * instead of waiting out their timeout.
 */
export class NatsLink {
  private isConnected = true;
  private silent = false;
  private readonly disconnects: Listener<string>[] = [];
  private readonly reconnects: Listener<string>[] = [];
  private readonly updates: Listener<void>[] = [];
  private readonly errors: Listener<Error>[] = [];

  constructor(
    readonly nc: NatsConnection,
    private readonly logger: Logger,
  ) {
    void this.watch();
  }

  /** Whether the connection is up (it may still be to a server that answers nothing). */
  get connected(): boolean {
    return this.isConnected && !this.nc.isClosed();
  }

  /** Why NATS cannot serve right now, or undefined when it can. */
  notReadyReason(): string | undefined {
    if (!this.connected) return "NATS is not connected";
    if (this.silent) return "the NATS server is not answering";
    return undefined;
  }

  get usable(): boolean {
    return this.notReadyReason() === undefined;
  }

  /** Called with the server lost, each time the connection drops. */
  onDisconnect(listener: Listener<string>): void {
    this.disconnects.push(listener);
  }

  /** Called with the server reached, each time the connection is back (subscriptions restored). */
  onReconnect(listener: Listener<string>): void {
    this.reconnects.push(listener);
  }

  /** Called when the cluster advertises its servers anew. */
  onUpdate(listener: Listener<void>): void {
    this.updates.push(listener);
  }

  /** Called with each asynchronous error the server reports. */
  onError(listener: Listener<Error>): void {
    this.errors.push(listener);
  }

  private async watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      switch (status.type) {
        case "disconnect":
          this.isConnected = false;
          this.silent = false;
          this.logger.warn({ server: status.server }, "NATS disconnected");
          notify(this.disconnects, status.server, this.logger);
          break;
        case "reconnect":
          this.isConnected = true;
          this.silent = false;
          this.logger.info({ server: status.server }, "NATS reconnected");
          notify(this.reconnects, status.server, this.logger);
          break;
        case "update":
          notify(this.updates, undefined, this.logger);
          break;
        case "ping":
          this.pinged(status.pendingPings);
          break;
        case "staleConnection":
          // The disconnect that follows names the server; by now the client may be dialling the next.
          this.logger.warn("NATS server stopped answering pings; leaving it");
          break;
        case "error":
          this.logger.error({ err: status.error }, "NATS error");
          notify(this.errors, status.error, this.logger);
          break;
        case "slowConsumer":
          this.logger.warn({ sub: status.sub.getSubject() }, "NATS slow consumer");
          break;
      }
    }
  }

  private pinged(pendingPings: number): void {
    const silent = pendingPings > 1;
    if (silent && !this.silent) this.logger.warn("NATS server not answering pings; not ready");
    else if (!silent && this.silent) this.logger.info("NATS server answering again; ready");
    this.silent = silent;
  }
}

/** One listener that throws must not keep the others from hearing of the change. */
function notify<T>(listeners: readonly Listener<T>[], value: T, logger: Logger): void {
  for (const listener of listeners) {
    try {
      listener(value);
    } catch (err) {
      logger.error({ err: (err as Error).message }, "NATS status listener failed");
    }
  }
}
