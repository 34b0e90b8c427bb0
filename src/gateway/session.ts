import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import {
  type AuthAccepted,
  type AuthFrame,
  decodeClientFrame,
  ErrorCode,
  type ErrorCodeName,
  type ReadyFrame,
  type RecoverRequest,
  sharedChannel,
  userChannel,
} from "../protocol/index.js";
import type { ChannelMember } from "./channel-hub.js";
import { closeReason } from "./close-reason.js";
import { FrameBudget } from "./frame-budget.js";
import type { GatewayContext } from "./gateway-context.js";
import type { Beating } from "./heartbeat.js";
import { OutboundFrame } from "./outbound-frame.js";
import type { ChannelReplay } from "./recovery.js";
import { Replay, type ReplayOutlet, ReplayStalled } from "./replay.js";

type State = "awaiting_auth" | "authenticating" | "ready" | "closed";

const PING = OutboundFrame.of({ type: "ping" });
const PONG = OutboundFrame.of({ type: "pong" });
const MAX_TIMER_MS = 2_000_000_000;
/** Connection ids: unique across restarts by a per-process tag, then a counter (no random per socket). */
const PROCESS_TAG = randomBytes(3).toString("hex");
let connectionCounter = 0;

/**
 * One client connection: awaiting_auth -> authenticating -> ready -> closed. Every frame is
 * validated; every failure sends an error frame (while the socket can carry it) and closes with
 * the code the protocol assigns to it.
 */
export class Session implements ChannelMember, Beating, ReplayOutlet {
  readonly id = `c-${PROCESS_TAG}${(++connectionCounter).toString(36)}`;
  heartbeatSlot = 0;
  private state: State = "awaiting_auth";
  user: string | undefined;
  private channels: string[] = [];
  private expiresAt: number | undefined;
  /** Last time the client sent anything (heartbeat bookkeeping). */
  lastSeen = Date.now();
  private timer: NodeJS.Timeout | undefined;
  /** From joining until live delivery takes over: live frames wait in it while history is replayed. */
  private replay: Replay | null = null;
  private readonly budget: FrameBudget;
  /** `asked` once `token_expiring` went out; one `refresh` may then be in flight at a time. */
  private refreshing: "no" | "asked" | "in_flight" = "no";

  constructor(
    private readonly ws: WebSocket,
    /** The upgraded TCP socket under `ws`: hot-path frames are written to it pre-framed. */
    private readonly socket: Duplex,
    private readonly ctx: GatewayContext,
    /** The client's address (behind a trusted proxy, from X-Forwarded-For). */
    readonly remoteAddress: string,
    private readonly headers: Record<string, string>,
    private readonly onClosed: (session: Session) => void,
  ) {
    ctx.metrics.connections.inc();
    this.budget = new FrameBudget(ctx.config.clientFrameRate, ctx.config.clientFrameBurst);
    this.timer = setTimeout(onAuthTimeout, ctx.config.authTimeout, this);
    // Module-level listeners that find the session on the socket: no closures per connection.
    (ws as SessionSocket)[SESSION] = this;
    ws.on("message", onSocketMessage);
    ws.on("close", onSocketClose);
    ws.on("error", onSocketError);
  }

  get isReady(): boolean {
    return this.state === "ready";
  }

  get isOpen(): boolean {
    return this.state !== "closed";
  }

  // ---- frames from the client ----

  onFrame(data: Buffer, isBinary: boolean): void {
    if (this.state === "closed") return;
    this.lastSeen = Date.now();
    if (!this.budget.take(this.lastSeen)) return this.fail("RATE_LIMITED", "too many frames; slow down");
    const decoded = decodeClientFrame(data, isBinary);
    if (!decoded.ok) return this.fail(decoded.code, decoded.message);
    const frame = decoded.frame;
    if (frame.type === "auth") {
      if (this.state !== "awaiting_auth")
        return this.fail("ALREADY_AUTHENTICATED", "this connection has already sent auth");
      this.authenticate(frame).catch((err: unknown) => this.internalError(err, "authenticating"));
      return;
    }
    if (this.state !== "ready") return this.fail("NOT_AUTHENTICATED", `${frame.type} before authentication`);
    if (frame.type === "ping") this.send(PONG);
    else if (frame.type === "refresh") {
      // Only an answer to token_expiring, one at a time: a refresh costs the backend a request.
      if (this.refreshing !== "asked")
        return this.fail("RATE_LIMITED", "refresh is only expected after token_expiring, one at a time");
      this.refreshing = "in_flight";
      this.refresh(frame.token).catch((err: unknown) => this.internalError(err, "refreshing"));
    }
    // pong: lastSeen is all it is for
  }

  // ---- auth (steps 2 to 4) ----

  private async authenticate(frame: AuthFrame): Promise<void> {
    this.state = "authenticating";
    clearTimeout(this.timer);
    const outcome = await this.ctx.auth.authenticate({
      kind: "connect",
      token: frame.token,
      connection: this.id,
      gateway: this.ctx.config.gatewayId,
      remoteAddress: this.remoteAddress,
      headers: this.headers,
    });
    if (!this.isOpen) return;
    switch (outcome.kind) {
      case "accepted":
        return this.becomeReady(outcome.reply, frame.recover);
      case "refused":
        return this.fail("AUTH_REFUSED", outcome.message, outcome.code);
      case "overloaded":
        return this.fail("OVERLOADED", "the gateway is busy authenticating others; try again later");
      case "unavailable":
        return this.fail("BACKEND_UNAVAILABLE", `${outcome.message}; try again later`);
      case "invalid_reply":
        return this.fail("BACKEND_INVALID_REPLY", "the backend's auth reply was invalid; try again later");
    }
  }

  private async becomeReady(reply: AuthAccepted, recover: RecoverRequest | undefined): Promise<void> {
    const { hub, recovery, config, logger } = this.ctx;
    this.user = reply.user;
    // The schema already checked the alphabet; building the names checks it again, in one place.
    this.channels = [userChannel(reply.user), ...new Set((reply.channels ?? []).map(sharedChannel))];
    // Live frames that arrive before `ready` wait, so they follow it (and any replay) in order.
    const replay = new Replay(this, recovery, config);
    this.replay = replay;
    let joined: (number | undefined)[];
    try {
      joined = await Promise.all(this.channels.map((channel) => hub.join(channel, this)));
    } catch (err) {
      logger.error({ connection: this.id, err: (err as Error).message }, "subscribing failed");
      return this.fail("BACKEND_UNAVAILABLE", "NATS is not reachable right now; try again later");
    }
    if (!this.isOpen) return; // onClose already left the channels
    const ready: ReadyFrame = {
      type: "ready",
      user: reply.user,
      connection: this.id,
      gateway: config.gatewayId,
      channels: this.channels,
      heartbeat: config.heartbeatInterval,
    };
    if (reply.expiresAt !== undefined) ready.expiresAt = reply.expiresAt;
    let replays: readonly ChannelReplay[] = [];
    if (recovery) {
      try {
        // fills in epoch, positions and recovered
        replays = await recovery.prepare(ready, joined, recover);
      } catch (err) {
        logger.error({ connection: this.id, err: (err as Error).message }, "history lookup failed");
        return this.fail("BACKEND_UNAVAILABLE", "history is not reachable right now; try again later");
      }
      if (!this.isOpen) return recovery.discard(replays);
    }
    // Only now do heartbeats, refreshes and live writes start, so nothing ever precedes `ready`.
    this.state = "ready";
    this.ctx.metrics.authenticated.inc();
    this.send(OutboundFrame.of(ready));
    this.scheduleExpiry(ready.expiresAt);
    try {
      await replay.run(replays);
    } catch (err) {
      if (err instanceof ReplayStalled) return this.fail("SLOW_CONSUMER", err.message);
      logger.error({ connection: this.id, err: (err as Error).message }, "history read failed");
      return this.fail("BACKEND_UNAVAILABLE", "history is not reachable right now; try again later");
    }
    if (this.replay === replay) this.replay = null;
  }

  /** Replay writes: whatever the socket holds (the replay paces itself), resolved once taken. */
  writeReplayed(frame: OutboundFrame): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState !== this.ws.OPEN) return resolve();
      if (this.ctx.config.compression)
        this.ws.send(frame.payload, { binary: false, compress: true }, () => resolve());
      else this.socket.write(frame.wire, () => resolve());
    });
  }

  private async refresh(token: string): Promise<void> {
    const outcome = await this.ctx.auth.authenticate({
      kind: "refresh",
      token,
      connection: this.id,
      gateway: this.ctx.config.gatewayId,
      remoteAddress: this.remoteAddress,
      headers: this.headers,
      user: this.user,
    });
    if (this.state !== "ready") return;
    this.refreshing = "asked";
    if (outcome.kind === "refused") return this.fail("REFRESH_REFUSED", outcome.message, outcome.code);
    if (outcome.kind !== "accepted") {
      // The connection lives on until expiry; the client may send another refresh meanwhile.
      this.ctx.logger.warn({ connection: this.id, outcome: outcome.kind }, "token refresh not answered");
      return;
    }
    this.refreshing = "no";
    this.scheduleExpiry(outcome.reply.expiresAt);
    const refreshed =
      outcome.reply.expiresAt === undefined
        ? { type: "refreshed" }
        : { type: "refreshed", expiresAt: outcome.reply.expiresAt };
    this.send(OutboundFrame.of(refreshed));
  }

  /** Asks for a refresh `refreshBefore` ms ahead of expiry, and closes with 4410 at expiry. */
  private scheduleExpiry(expiresAt: number | undefined): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.expiresAt = expiresAt;
    if (expiresAt === undefined) return;
    const now = Date.now();
    const askAt = expiresAt - this.ctx.config.refreshBefore;
    if (now >= expiresAt) return this.fail("TOKEN_EXPIRED", "the token has expired");
    if (now < askAt) {
      this.timer = setTimeout(onAskRefresh, Math.min(askAt - now, MAX_TIMER_MS), this);
    } else {
      this.askRefresh();
    }
  }

  askRefresh(): void {
    const expiresAt = this.expiresAt;
    if (expiresAt === undefined || this.state !== "ready") return;
    const left = expiresAt - Date.now();
    if (left > this.ctx.config.refreshBefore) return this.scheduleExpiry(expiresAt); // timer was capped
    if (this.refreshing === "no") this.refreshing = "asked";
    this.send(OutboundFrame.of({ type: "token_expiring", expiresAt }));
    this.timer = setTimeout(onExpired, Math.max(0, left), this);
  }

  // ---- frames to the client ----

  /** Called by the hub for each message of one of this session's channels. */
  deliver(_channel: string, frame: OutboundFrame): void {
    if (this.replay && !this.replay.done) {
      if (!this.replay.hold(frame))
        this.fail("SLOW_CONSUMER", "too many live messages waited during recovery");
      return;
    }
    if (this.state === "ready") this.write(frame);
  }

  /**
   * Writes a frame unless the socket's outbound buffer is over the limit: then it is cut off. With
   * compression off (the default) the shared, pre-framed bytes go straight to the TCP socket; `ws`
   * writes whole frames synchronously then, so the two never interleave.
   */
  private write(frame: OutboundFrame): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.socket.writableLength + frame.payload.length > this.ctx.config.maxBufferedBytes) {
      this.fail("SLOW_CONSUMER", "the client reads too slowly");
      return;
    }
    if (this.ctx.config.compression) this.ws.send(frame.payload, { binary: false, compress: true });
    else this.socket.write(frame.wire);
  }

  send(frame: OutboundFrame): void {
    if (this.state === "closed") return;
    this.write(frame);
  }

  ping(): void {
    this.send(PING);
  }

  // ---- closing ----

  /**
   * Sends an error frame (if the socket is still open) and closes with the code for `code`. The
   * message may quote outside input (briefly, through `quote`); the close reason never does: it is
   * the fixed error code.
   */
  fail(code: ErrorCodeName, message: string, reason?: string): void {
    if (this.state === "closed") return;
    const frame: Record<string, string> = { type: "error", code, message };
    if (reason !== undefined) frame.reason = reason;
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(frame));
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
      // The socket is beyond saving: make sure it goes and the session forgets it.
      this.ws.terminate();
      this.onClose();
    }
  }

  /** Closes with a fixed, short reason (cut to the 123 bytes a close frame allows). */
  close(code: number, reason: string): void {
    if (this.state === "closed") return;
    this.ctx.metrics.closes.inc({ code: String(code) });
    this.ws.close(code, closeReason(reason));
    this.onClose();
    // a peer that never answers the close handshake is not waited for
    setTimeout(terminate, 5000, this.ws).unref();
  }

  socketError(err: Error): void {
    this.ctx.logger.debug({ connection: this.id, err: err.message }, "socket error");
  }

  onClose(): void {
    if (this.state === "closed") return;
    const wasReady = this.state === "ready";
    this.state = "closed";
    clearTimeout(this.timer);
    this.replay?.cancel();
    this.replay = null;
    for (const channel of this.channels) this.ctx.hub.leave(channel, this);
    this.ctx.metrics.connections.dec();
    if (wasReady) this.ctx.metrics.authenticated.dec();
    this.onClosed(this);
  }
}

const SESSION = Symbol("herald.session");
type SessionSocket = WebSocket & { [SESSION]?: Session };

/** Socket events reach the session only through these guards: nothing one socket does throws past them. */
function onSocketMessage(this: SessionSocket, data: Buffer, isBinary: boolean): void {
  const session = this[SESSION];
  try {
    session?.onFrame(data, isBinary);
  } catch (err) {
    session?.internalError(err, "handling a frame");
  }
}

function onSocketClose(this: SessionSocket): void {
  const session = this[SESSION];
  try {
    session?.onClose();
  } catch (err) {
    session?.internalError(err, "closing");
  }
}

function onSocketError(this: SessionSocket, err: Error): void {
  this[SESSION]?.socketError(err);
}

/** Timer callbacks take the session as an argument: no closure per connection, and each is guarded. */
function guarded(run: (session: Session) => void, during: string) {
  return (session: Session) => {
    try {
      run(session);
    } catch (err) {
      session.internalError(err, during);
    }
  };
}

const onAuthTimeout = guarded((s) => s.fail("AUTH_TIMEOUT", "no auth frame in time"), "timing out auth");
const onAskRefresh = guarded((s) => s.askRefresh(), "asking for a refresh");
const onExpired = guarded(
  (s) => s.fail("TOKEN_EXPIRED", "the token expired before it was refreshed"),
  "expiring the token",
);

function terminate(ws: WebSocket): void {
  ws.terminate();
}
