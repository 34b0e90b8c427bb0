import type { ClientFrame } from "../protocol/client-frames.js";
import { CloseCode } from "../protocol/close-codes.js";
import type { PresenceSnapshot } from "../protocol/presence.js";
import type { MessageFrame, ReadyFrame } from "../protocol/server-frames.js";
import { closeError, openError } from "./close-error.js";
import { type ConnectOptions, checkOptions, type HeraldEvents } from "./connect-options.js";
import { HeraldClientError } from "./errors.js";
import { Emitter, type Listener } from "./events.js";
import { MessageDelivery } from "./message-delivery.js";
import { watchOnline } from "./network-watch.js";
import { PresenceRequests } from "./presence.js";
import { ReconnectSchedule } from "./reconnect-schedule.js";
import { HeraldRpcError, PendingCalls, type RpcOptions } from "./rpc.js";
import { parseServerFrame } from "./server-frame.js";
import type { ClientState } from "./state.js";
import type { Subscription } from "./subscription.js";
import { SubscriptionRegistry } from "./subscription-registry.js";
import { fetchToken } from "./token-source.js";
import { pickTransport, type TransportName, type TransportPicker } from "./transport-picker.js";
import { Watchdog } from "./watchdog.js";
import { resolveWebSocket, type Transport, webSocketTransport } from "./websocket.js";

export type { ConnectOptions, HeraldEvents } from "./connect-options.js";

/**
 * A part added to a client by an import of its own (the inbox, `herald/client/inbox`), so that the
 * core bundle carries none of it: it takes the gateway frames no core part knows, adds fields to
 * `auth`, and hears when a connection is ready and when it ends.
 */
export interface ClientExtension {
  /** A gateway frame of a type the core does not know; false when it is not this part's either. */
  receive(frame: { readonly type: unknown; readonly [key: string]: unknown }): boolean;
  /** Fields for the next `auth` frame. */
  auth(): Record<string, unknown> | undefined;
  /** A connection is ready: `send` writes a frame on it until `interrupted`. */
  ready(send: (frame: object) => void): void;
  interrupted(): void;
}

/**
 * A connection to a Herald gateway that keeps itself up: it reconnects with backoff, recovers missed
 * messages, answers heartbeats, detects a silent gateway and refreshes its token when asked.
 *
 * Every frame from the gateway is parsed once and dispatched once, in `receive`, to the part that owns
 * its concern: messages to `delivery`, a channel's subscribe answers to `subscriptions`, call answers
 * to `rpcs`, presence answers to `presenceRequests`; the connection's own frames are handled here.
 * Those parts keep their state across connections; the ready connection's transport is handed to
 * them on `ready` and taken back when it ends.
 */
export class HeraldClient {
  private readonly events = new Emitter<HeraldEvents>();
  /** Which transport each attempt uses: WebSocket, or a fallback where WebSockets are blocked. */
  private readonly picker: TransportPicker;
  private readonly schedule: ReconnectSchedule;
  private readonly subscriptions: SubscriptionRegistry;
  /** Messages to the application, duplicates dropped and gaps noticed. */
  private readonly delivery: MessageDelivery;
  private readonly rpcs = new PendingCalls();
  private readonly presenceRequests = new PresenceRequests();
  private readonly extensions = new Set<ClientExtension>();
  private readonly connectTimeoutMs: number;
  private current: ClientState = "connecting";
  private announced: ClientState = "closed";
  /** The current attempt's transport, from its opening to its end. */
  private transport: Transport | undefined;
  private readyFrame: ReadyFrame | undefined;
  /** Bumped whenever a connection attempt ends: late results of an older attempt are ignored. */
  private generation = 0;
  /** Connect timeout before `ready`, silence timeout after it. */
  private readonly watchdog = new Watchdog((error) => this.fail(error));
  /** The gateway's error frame, reported together with the close that follows it. */
  private pendingError: HeraldClientError | undefined;
  /** A frame came on the current attempt's transport. */
  private heard = false;

  constructor(private readonly options: ConnectOptions) {
    checkOptions(options);
    this.picker = pickTransport({
      options,
      webSocket: webSocketTransport(resolveWebSocket(options.WebSocket)),
      switchBack: () => {
        if (this.current === "ready") this.reconnect();
      },
    });
    this.schedule = new ReconnectSchedule(options.backoff);
    const recover = options.recover ?? true;
    this.subscriptions = new SubscriptionRegistry(recover, options.backoff);
    this.delivery = new MessageDelivery(recover, this.events, this.subscriptions);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
    watchOnline(this.onOnline, true);
    // Start on a microtask so listeners added right after `connect()` see the first state change.
    const generation = this.generation;
    queueMicrotask(() => {
      if (generation === this.generation) void this.attempt();
    });
  }

  get state(): ClientState {
    return this.current;
  }

  /** The transport of the current connection, or of the next attempt. */
  get transportName(): TransportName {
    return this.picker.current;
  }

  /** The current connection's `ready` frame; undefined unless the state is `ready`. */
  get session(): ReadyFrame | undefined {
    return this.readyFrame;
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof HeraldEvents>(event: K, listener: Listener<HeraldEvents[K]>): () => void {
    return this.events.on(event, listener);
  }

  off<K extends keyof HeraldEvents>(event: K, listener: Listener<HeraldEvents[K]>): void {
    this.events.off(event, listener);
  }

  /** Listens to the messages of one channel (`user.<id>` or `channel.<name>`); returns an unsubscribe. */
  channel(name: string, listener: Listener<MessageFrame>): () => void {
    return this.delivery.onChannel(name, listener);
  }

  /**
   * Calls `method` on the backend (`<prefix>.rpc.<method>`) and resolves with its answer's `data`,
   * unchecked: validate it when it matters. Waits for a ready connection within `timeout`; rejects
   * with a `HeraldRpcError` (`code`, `retryable`, `reason`). A call is sent at most once: when the
   * connection ends before the answer it fails with `RPC_INTERRUPTED`.
   */
  rpc<T = unknown>(method: string, data?: unknown, options?: RpcOptions): Promise<T> {
    if (this.current === "closed")
      return Promise.reject(new HeraldRpcError(method, "NOT_CONNECTED", "the client is closed"));
    return this.rpcs.call(method, data, options) as Promise<T>;
  }

  /**
   * Who is in a channel this connection has presence on (`ready.presence`), across every gateway:
   * users, their connection counts and info. Rejects when the client is not ready, the channel has
   * no presence for this connection (`NOT_GRANTED`), or the connection ends first.
   */
  presence(channel: string): Promise<PresenceSnapshot> {
    return this.presenceRequests.request(channel, this.readyFrame && this.transport);
  }

  /**
   * Subscribes to a shared channel (`channel.<name>`), which the backend allows or refuses. Asked
   * for on every ready connection, recovering what was missed, until `unsubscribe()`. Subscribing to
   * a channel twice gives the same subscription.
   */
  subscribe(channel: string): Subscription {
    return this.subscriptions.subscribe(channel);
  }

  /** Adds a part that an import of its own brings (see ClientExtension); returns its removal. */
  extend(extension: ClientExtension): () => void {
    this.extensions.add(extension);
    if (this.readyFrame) extension.ready((frame) => this.transport?.send(JSON.stringify(frame)));
    return () => this.extensions.delete(extension);
  }

  /** Starts again after `close()` or after a failure that stopped the client; no-op while running. */
  connect(): this {
    if (this.current === "closed") {
      this.schedule.reset();
      watchOnline(this.onOnline, true);
      void this.attempt();
    }
    return this;
  }

  /** Drops the current connection, if any, and connects again right away. */
  reconnect(): this {
    this.teardown("reconnect");
    this.schedule.reset();
    void this.attempt();
    return this;
  }

  /** Closes for good: no reconnect, and the recovery position is forgotten. */
  close(): void {
    this.teardown("client closed");
    // Calls fail, subscriptions end, recovery positions are forgotten.
    this.delivery.reset();
    this.subscriptions.close();
    this.rpcs.stop();
    watchOnline(this.onOnline, false);
    this.picker.stop();
    this.setState("closed");
  }

  /** The browser's `online` event: waiting out the rest of a backoff delay then only costs time. */
  private readonly onOnline = (): void => {
    if (this.current === "reconnecting") this.reconnect();
  };

  private async attempt(): Promise<void> {
    this.teardown("new attempt");
    const generation = this.generation;
    this.pendingError = undefined;
    this.heard = false;
    this.setState("connecting");
    this.watchdog.connecting(this.connectTimeoutMs);
    const token = await fetchToken(this.options.getToken);
    if (generation !== this.generation) return;
    if (token instanceof HeraldClientError) return this.fail(token);
    try {
      this.transport = this.picker.open(this.options.url, {
        opened: () => {
          this.setState("authenticating");
          const recover = this.delivery.recoverRequest();
          const auth: ClientFrame = recover ? { type: "auth", token, recover } : { type: "auth", token };
          for (const extension of this.extensions) Object.assign(auth, extension.auth());
          this.send(auth);
        },
        received: (data) => this.receive(data),
        closed: (code, reason) => this.closed(code, reason),
      });
    } catch (err) {
      return this.stop(openError(this.options.url, err));
    }
  }

  /** The one dispatch of the gateway's frames. */
  private receive(data: unknown): void {
    // Any frame proves the gateway alive, not only its pings.
    this.heard = true;
    if (this.readyFrame) this.watchdog.alive(this.readyFrame.heartbeat);
    const frame = parseServerFrame(data);
    if (!frame && this.extensions.size > 0 && this.extended(data)) return;
    if (!frame) {
      const text = typeof data === "string" ? data.slice(0, 200) : typeof data;
      this.events.emit("error", new HeraldClientError("INVALID_SERVER_FRAME", `ignored a frame: ${text}`));
      return;
    }
    switch (frame.type) {
      case "ready":
        return this.onReady(frame);
      case "message":
        return this.onMessage(frame);
      case "error":
        this.pendingError = new HeraldClientError(frame.code, frame.message, { reason: frame.reason });
        return;
      case "token_expiring":
        return void this.refresh();
      case "ping":
        return this.send({ type: "pong" });
      case "subscribed":
      case "subscribe_error":
      case "unsubscribed":
        return this.subscriptions.receive(frame);
      case "rpc_result":
      case "rpc_error":
        return this.rpcs.settle(frame);
      case "presence":
      case "presence_error":
        return this.presenceRequests.answered(frame);
      case "join":
      case "leave":
        return this.events.emit(frame.type, frame);
      // `refreshed` and `pong` need nothing: that a frame came is what counts.
    }
  }

  /** Offers a frame the core does not know to the extensions; true when one took it. */
  private extended(data: unknown): boolean {
    let frame: unknown;
    try {
      frame = JSON.parse(data as string);
    } catch {
      return false;
    }
    if (typeof frame !== "object" || frame === null) return false;
    for (const extension of this.extensions) if (extension.receive(frame as { type: unknown })) return true;
    return false;
  }

  /** A connection is ready: calls waiting for one and every subscription go out on it. */
  private onReady(frame: ReadyFrame): void {
    const transport = this.transport!; // the frame came on it
    this.readyFrame = frame;
    this.schedule.reset();
    this.picker.ready();
    this.watchdog.alive(frame.heartbeat);
    const resync = this.delivery.ready(frame);
    this.rpcs.ready(transport, frame.maxFrameBytes);
    this.subscriptions.ready(frame, transport);
    for (const extension of this.extensions) extension.ready((out) => transport.send(JSON.stringify(out)));
    this.setState("ready");
    this.events.emit("ready", frame);
    if (resync) this.events.emit("resync", frame);
  }

  private onMessage(frame: MessageFrame): void {
    if (!this.readyFrame) return;
    const verdict = this.delivery.deliver(frame);
    if (verdict === "gap") {
      this.teardown("sequence gap");
      return this.scheduleRetry(this.schedule.afterGap());
    }
    if (verdict === "deliver" && frame.prev !== undefined) this.schedule.inSequence();
  }

  private async refresh(): Promise<void> {
    const generation = this.generation;
    const token = await fetchToken(this.options.getToken);
    if (generation !== this.generation) return;
    // Without a new token the gateway closes at expiry (retryable), and the reconnect asks again.
    if (token instanceof HeraldClientError) this.events.emit("error", token);
    else this.send({ type: "refresh", token });
  }

  private closed(code: number, reason: string): void {
    if (!this.readyFrame) this.picker.failed(this.heard);
    const error = closeError(code, reason, this.pendingError);
    const retryable = error.retryable;
    if (!retryable) return this.stop(error);
    this.teardown("closed");
    this.scheduleRetry(this.schedule.afterClose(code));
    this.events.emit("error", error);
  }

  /** An attempt or connection failed in a way retrying can fix. */
  private fail(error: HeraldClientError): void {
    if (!this.readyFrame) this.picker.failed(this.heard);
    this.teardown(error.code);
    this.scheduleRetry(this.schedule.afterFailure());
    this.events.emit("error", error);
  }

  /** A failure retrying cannot fix: stop until the application calls `connect()`. */
  private stop(error: HeraldClientError): void {
    this.teardown(error.code);
    // The error first: an application that drops the client on `closed` still learns why.
    this.events.emit("error", error);
    // Waiting calls fail; subscriptions stay for a later `connect()`.
    this.rpcs.stop();
    this.setState("closed");
  }

  private scheduleRetry(delayMs: number): void {
    this.setState("reconnecting");
    this.schedule.wait(delayMs, () => void this.attempt());
  }

  /**
   * Ends the current attempt: its transport, timers and pending async steps. Calls and presence
   * requests sent on it fail; subscriptions wait for the next connection.
   */
  private teardown(reason: string): void {
    this.generation++;
    this.schedule.cancel();
    this.watchdog.clear();
    const transport = this.transport;
    this.transport = undefined;
    this.readyFrame = undefined;
    this.rpcs.interrupt();
    this.presenceRequests.lost();
    this.subscriptions.disconnected();
    for (const extension of this.extensions) extension.interrupted();
    transport?.close(CloseCode.Normal, reason);
  }

  private send(frame: ClientFrame): void {
    this.transport?.send(JSON.stringify(frame));
  }

  private setState(next: ClientState): void {
    this.current = next;
    if (next === this.announced) return;
    this.announced = next;
    this.events.emit("state", next);
  }
}

/** Creates a client and starts connecting at once. */
export function connect(options: ConnectOptions): HeraldClient {
  return new HeraldClient(options);
}
