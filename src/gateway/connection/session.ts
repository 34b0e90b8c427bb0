import { randomBytes } from "node:crypto";
import {
  type AuthAccepted,
  type AuthFrame,
  type AuthRequest,
  decodeClientFrame,
  ErrorCode,
  type ErrorCodeName,
  type InboxRecover,
  type RecoverRequest,
} from "../../protocol/index.js";
import { authRequest, connectFailure } from "../backend/auth-exchange.js";
import { OutboundFrame } from "../delivery/outbound-frame.js";
import type { ConnectionClose, GatewayContext, TrackedConnection } from "../gateway-context.js";
import type { ClientSocket, ClientSocketEvents } from "./client-socket.js";
import type { Beating } from "./heartbeat.js";
import { RpcCalls, type RpcOutlet } from "./rpc-calls.js";
import { type SubscribingConnection, Subscriptions } from "./subscriptions.js";
import { type RefreshingConnection, TokenRefresh } from "./token-refresh.js";

/**
 * awaiting_auth → authenticating → joining (its granted channels join and look up what they
 * missed) → replaying (`ready` sent, their missed messages follow) → ready → closed. Each channel
 * goes through its own stages meanwhile (see `ChannelSubscription`).
 */
export type SessionState = "awaiting_auth" | "authenticating" | "joining" | "replaying" | "ready" | "closed";

const PING = OutboundFrame.of({ type: "ping" });
const PONG = OutboundFrame.of({ type: "pong" });
/** Connection ids: unique across restarts by a per-process tag, then a counter (no random per socket). */
const PROCESS_TAG = randomBytes(3).toString("hex");
let connectionCounter = 0;

export interface SessionOptions {
  readonly socket: ClientSocket;
  readonly ctx: GatewayContext;
  /** The client's address (behind a trusted proxy, from X-Forwarded-For). */
  readonly remoteAddress: string;
  /** The upgrade request's headers named by `--forward-headers`, passed on to auth. */
  readonly headers: Record<string, string>;
  /** Called once when the connection has ended (the registry forgets it). */
  readonly onClosed: (session: Session) => void;
}

/**
 * One client connection as a state machine over a `ClientSocket`: its states, its socket and its
 * frame budget; its channels are its `Subscriptions`. Every frame is validated; every failure
 * sends an error frame (while the socket can carry it) and closes with the code the protocol
 * assigns to it. Nothing the client sends can throw past the session: its own exceptions close it
 * with 1011.
 */
export class Session
  implements
    SubscribingConnection,
    Beating,
    ClientSocketEvents,
    RefreshingConnection,
    RpcOutlet,
    TrackedConnection
{
  readonly id = `c-${PROCESS_TAG}${(++connectionCounter).toString(36)}`;
  heartbeatSlot = 0;
  private stateValue: SessionState = "awaiting_auth";
  user: string | undefined;
  /** Every channel the connection receives, granted at auth or subscribed. */
  readonly subscriptions: Subscriptions;
  /** Last time the client sent anything (heartbeat bookkeeping). */
  lastSeen = Date.now();
  private authTimer: NodeJS.Timeout | undefined;
  /** How the connection ended, once the gateway closed it (for connection events). */
  private closing: ConnectionClose | undefined;
  private readonly budget: FrameBudget;
  private readonly token: TokenRefresh;
  /** Calls waiting for the backend; made on the first `rpc` frame. */
  private rpcs: RpcCalls | undefined;

  private readonly socket: ClientSocket;
  private readonly ctx: GatewayContext;
  /** The client's address (behind a trusted proxy, from X-Forwarded-For). */
  readonly remoteAddress: string;
  private readonly headers: Record<string, string>;
  private readonly onClosed: (session: Session) => void;

  constructor({ socket, ctx, remoteAddress, headers, onClosed }: SessionOptions) {
    this.socket = socket;
    this.ctx = ctx;
    this.remoteAddress = remoteAddress;
    this.headers = headers;
    this.onClosed = onClosed;
    ctx.metrics.connections.inc();
    this.budget = new FrameBudget(ctx.config.clientFrameRate, ctx.config.clientFrameBurst);
    this.token = new TokenRefresh(this, ctx);
    this.subscriptions = new Subscriptions(this, ctx);
    this.authTimer = setTimeout(onAuthTimeout, ctx.config.authTimeout, this);
  }

  get state(): SessionState {
    return this.stateValue;
  }

  /** Ready for heartbeats: `ready` went out (a replay may still be running). */
  get isReady(): boolean {
    return this.stateValue === "ready" || this.stateValue === "replaying";
  }

  get isOpen(): boolean {
    return this.stateValue !== "closed";
  }

  // ---- frames from the client ----

  onFrame(data: Buffer, isBinary: boolean): void {
    if (!this.isOpen) return;
    this.lastSeen = Date.now();
    if (!this.withinBudget(this.lastSeen)) return;
    const decoded = decodeClientFrame(data, isBinary);
    if (!decoded.ok) return this.fail(decoded.code, decoded.message);
    const frame = decoded.frame;
    if (frame.type === "auth") {
      if (this.stateValue !== "awaiting_auth")
        return this.fail("ALREADY_AUTHENTICATED", "this connection has already sent auth");
      this.authenticate(frame).catch((err: unknown) => this.internalError(err, "authenticating"));
      return;
    }
    if (!this.isReady) return this.fail("NOT_AUTHENTICATED", `${frame.type} before authentication`);
    if (frame.type === "ping") this.send(PONG);
    else if (frame.type === "presence") this.ctx.tracking.presenceRequested(this, frame.channel);
    else if (frame.type === "refresh") this.token.onRefresh(frame.token);
    else if (frame.type === "rpc") {
      this.rpcs ??= new RpcCalls(this.ctx.rpc, this.ctx.config.maxRpcInFlight, this.ctx.inFlightPerAddress);
      this.rpcs.call(this, frame);
    } else if (frame.type === "subscribe") this.subscriptions.subscribe(frame);
    else if (frame.type === "unsubscribe") this.subscriptions.unsubscribe(frame.channel);
    else if (frame.type === "inbox_list" || frame.type === "inbox_mark") this.ctx.inbox.request(this, frame);
    // pong: lastSeen is all it is for
  }

  /**
   * A WebSocket ping or pong: it costs the gateway about what a JSON frame does, so it takes a token
   * of the same budget, before authentication too. It does not count as heard from for heartbeats,
   * which are JSON `ping` and `pong`.
   */
  onControlFrame(): boolean {
    return this.isOpen && this.withinBudget(Date.now());
  }

  /** Takes one frame's token, or closes the connection with RATE_LIMITED. */
  private withinBudget(now: number): boolean {
    if (this.budget.take(now)) return true;
    this.fail("RATE_LIMITED", "too many frames; slow down");
    return false;
  }

  // ---- auth (steps 2 to 4) ----

  authRequest(kind: AuthRequest["kind"], token: string): AuthRequest {
    return authRequest(kind, token, this, this.headers, this.ctx.config.gatewayId);
  }

  private async authenticate(frame: AuthFrame): Promise<void> {
    this.stateValue = "authenticating";
    clearTimeout(this.authTimer);
    this.authTimer = undefined; // a cleared Timeout kept for the connection's life is 120 bytes each
    // on the monotonic clock, as the control listener stamps what arrives
    const askedAt = performance.now();
    const outcome = await this.ctx.auth.authenticate(this.authRequest("connect", frame.token));
    if (!this.isOpen) return;
    if (outcome.kind !== "accepted") {
      const failure = connectFailure(outcome);
      return this.fail(failure.code, failure.message, failure.reason);
    }
    // The backend disconnected this user while its answer was on the way: it applies here too.
    const disconnected = this.ctx.control.disconnectedSince(outcome.reply.user, askedAt);
    if (disconnected) return this.fail(disconnected.code, disconnected.message);
    return this.join(outcome.reply, frame.recover, askedAt, frame.inbox);
  }

  /**
   * Joins the granted channels (less those taken away since `askedAt`), sends `ready`, replays what
   * was missed, then is ready. From here on the connection has a user: control messages reach it
   * directly.
   */
  private async join(
    reply: AuthAccepted,
    recover: RecoverRequest | undefined,
    askedAt: number,
    inbox: InboxRecover | undefined,
  ): Promise<void> {
    this.stateValue = "joining";
    this.user = reply.user;
    this.ctx.inbox.joining(this);
    const joined = await this.subscriptions.grant(reply, recover, askedAt);
    if (joined.kind === "gone") return; // onClose already left the channels
    if (joined.kind === "failed") return this.fail(joined.code, joined.message);
    // Only now do heartbeats, refreshes and writes start, so nothing ever precedes `ready`. The
    // client's silence counts from here: it had nothing to answer while the gateway made it wait.
    this.lastSeen = Date.now();
    this.stateValue = "replaying";
    this.ctx.metrics.authenticated.inc();
    const { shared: channels, presence } = joined;
    // `ready` and what follows it in this turn (the `inbox` frame when it is known) in one write.
    this.socket.batch(() => {
      this.send(OutboundFrame.of(joined.ready));
      this.token.start(joined.ready.expiresAt);
      this.ctx.tracking.ready(this, { user: reply.user, channels, presence, info: reply.info });
      this.ctx.inbox.ready(this, inbox);
    });
    await this.subscriptions.replayGranted(joined);
    if (this.isOpen) this.stateValue = "ready";
  }

  /** Replay writes: whatever the socket holds (the replay paces itself), resolved once taken. */
  writeReplayed(frame: OutboundFrame): Promise<void> {
    return new Promise((resolve) => this.socket.send(frame, resolve));
  }

  // ---- frames to the client ----

  /** Writes a frame unless the socket's outbound queue is over the limit: then it is cut off. */
  send(frame: OutboundFrame): void {
    if (!this.isOpen) return;
    if (this.socket.bufferedBytes + frame.payload.length > this.ctx.config.maxBufferedBytes) {
      this.fail("SLOW_CONSUMER", "the client reads too slowly");
      return;
    }
    this.socket.send(frame);
  }

  ping(): void {
    this.send(PING);
  }

  // ---- closing ----

  /**
   * Sends an error frame and closes with the code for `code`. The message may quote outside input
   * (briefly, through `quote`); the close reason never does: it is the fixed error code.
   */
  fail(code: ErrorCodeName, message: string, reason?: string): void {
    if (!this.isOpen) return;
    const frame: Record<string, string> = { type: "error", code, message };
    if (reason !== undefined) frame.reason = reason;
    // past the outbound limit too: the error is what the client must still learn
    this.socket.send(OutboundFrame.of(frame));
    this.close(ErrorCode[code], code);
    this.ctx.logger.info({ connection: this.id, user: this.user, code }, message.slice(0, 200));
  }

  /** An exception in this session's own code: this socket closes with 1011, the process goes on. */
  internalError(err: unknown, during: string): void {
    this.ctx.metrics.internalErrors.inc();
    this.ctx.logger.error(
      { connection: this.id, user: this.user, err: err instanceof Error ? err : String(err) },
      `internal error while ${during}`,
    );
    try {
      this.fail("INTERNAL", "internal error");
    } catch {
      this.onClose(); // the socket is beyond saving: at least the session lets go of everything
    }
  }

  /** Closes with a fixed, short reason. */
  close(code: number, reason: string): void {
    if (!this.isOpen) return;
    this.closing = { code, byClient: false, reason };
    this.ctx.metrics.closes.inc({ code: String(code) });
    this.onClose();
    this.socket.close(code, reason);
  }

  /** The socket closed (`code` as received: the client's close code, or 1006 for a drop). */
  onClose(code?: number): void {
    if (!this.isOpen) return;
    const wasReady = this.isReady;
    this.stateValue = "closed";
    clearTimeout(this.authTimer);
    this.token.stop();
    this.subscriptions.close();
    this.ctx.metrics.connections.dec();
    if (wasReady) {
      this.ctx.metrics.authenticated.dec();
      const byClient = code !== undefined && code !== 1005 && code !== 1006;
      this.ctx.tracking.closed(this, this.closing ?? { code: code ?? 1006, byClient, reason: undefined });
    }
    // Also while joining: the inbox holds the connection from then on.
    if (this.user !== undefined) this.ctx.inbox.closed(this);
    this.onClosed(this);
  }
}

/** The auth timer's callback takes the session as an argument: no closure per connection. */
function onAuthTimeout(session: Session): void {
  try {
    session.fail("AUTH_TIMEOUT", "no auth frame in time");
  } catch (err) {
    session.internalError(err, "timing out auth");
  }
}

/**
 * A token bucket for the connection's frames: `burst` frames at once, refilled at `rate` per
 * second. Two numbers per connection, refilled lazily on each frame, so idle connections cost no timer.
 */
class FrameBudget {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now = Date.now(),
  ) {
    this.tokens = burst;
    this.refilledAt = now;
  }

  /** Takes one frame's token; false when the connection is over its rate. */
  take(now: number): boolean {
    const elapsed = now - this.refilledAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
      this.refilledAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
