import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { GatewayMetrics } from "../metrics.js";
import { type ClientAddresses, normalizeAddress, setProxiedAddress } from "./client-address.js";
import { parseProxyHeader } from "./proxy-protocol.js";
import type { RefusalLog } from "./refusal-log.js";

/** The address key under which a socket not upgraded yet is counted, kept on the socket itself. */
const PENDING = Symbol("herald.pending");
type IntakeSocket = Socket & { [PENDING]?: string };

const TOO_MANY = "HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const ignore = () => undefined;

export interface IntakeOptions {
  readonly addresses: ClientAddresses;
  /** The per-address limits' key of a client address (its IPv6 network). */
  readonly keyOf: (address: string) => string;
  /** Sockets one address may hold before they send their upgrade request. */
  readonly maxPendingPerAddress: number;
  /** Read a PROXY protocol header from trusted peers before the HTTP request. */
  readonly proxyProtocol: boolean;
  /** How long a trusted peer has for its PROXY header (the HTTP request head then gets as long again). */
  readonly headerTimeoutMs: number;
  readonly metrics: GatewayMetrics;
  readonly refusals: RefusalLog;
}

/**
 * What happens to an accepted TCP socket before the HTTP parser sees it. A socket whose client
 * address is known at accept (the peer itself, or the address a trusted balancer's PROXY header
 * names) is counted against that address until it is upgraded or closed: one address can hold only
 * so many sockets that have sent nothing yet, so idle sockets from one place cannot fill the slots
 * everyone else needs. A socket from a trusted HTTP proxy is not counted here: its client is known
 * only from X-Forwarded-For, at the upgrade, where the other per-address limits apply.
 */
export class SocketIntake {
  private readonly pending = new Map<string, number>();
  /** One `close` listener shared by every counted socket: no closure per connection. */
  private readonly releaseOnClose: (this: IntakeSocket) => void;
  private httpConnection: ((socket: Socket) => void) | undefined;

  constructor(private readonly options: IntakeOptions) {
    const intake = this;
    this.releaseOnClose = function (this: IntakeSocket) {
      intake.upgraded(this);
    };
  }

  /**
   * Puts the intake between the HTTP server's listener and its HTTP handling: each accepted socket
   * reaches the server's own connection handling only once the intake lets it through.
   */
  attach(server: Server): void {
    const listeners = server.listeners("connection");
    if (listeners.length !== 1)
      throw new Error("the HTTP server must have exactly its own connection listener");
    const httpConnection = listeners[0] as (socket: Socket) => void;
    this.httpConnection = (socket) => httpConnection.call(server, socket);
    server.removeAllListeners("connection");
    server.on("connection", (socket: Socket) => this.accept(socket));
  }

  /** The socket sent its upgrade request (or closed): it no longer counts against its address. */
  upgraded(socket: Socket): void {
    const key = (socket as IntakeSocket)[PENDING];
    if (key === undefined) return;
    (socket as IntakeSocket)[PENDING] = undefined;
    const count = (this.pending.get(key) ?? 1) - 1;
    if (count > 0) this.pending.set(key, count);
    else this.pending.delete(key);
  }

  private accept(socket: Socket): void {
    const { addresses, proxyProtocol } = this.options;
    const peer = normalizeAddress(socket.remoteAddress ?? "");
    if (addresses.isTrusted(peer)) {
      if (proxyProtocol) this.readProxyHeader(socket, peer);
      else this.httpConnection?.(socket);
      return;
    }
    if (this.hold(socket, peer)) this.httpConnection?.(socket);
  }

  /** Counts the socket against its client's address, or refuses it (false) when that holds too many. */
  private hold(socket: Socket, address: string): boolean {
    const key = this.options.keyOf(address);
    const count = this.pending.get(key) ?? 0;
    const max = this.options.maxPendingPerAddress;
    if (count >= max) {
      this.options.metrics.refusedUpgrades.inc({ reason: "pending_per_ip" });
      this.options.refusals.refused("pending_per_ip", key, max);
      socket.on("error", ignore);
      socket.end(TOO_MANY, () => socket.destroy());
      return false;
    }
    this.pending.set(key, count + 1);
    (socket as IntakeSocket)[PENDING] = key;
    socket.on("close", this.releaseOnClose);
    return true;
  }

  /**
   * Reads the PROXY header a trusted balancer writes first, then hands the socket with the rest of
   * its bytes to the HTTP server. A peer that sends no valid header within the timeout is cut.
   */
  private readProxyHeader(socket: Socket, peer: string): void {
    let received: Buffer = Buffer.alloc(0);
    const refuse = (why: string) => {
      stop();
      this.options.metrics.refusedUpgrades.inc({ reason: "proxy_header" });
      this.options.refusals.refused("proxy_header", peer, why);
      socket.destroy();
    };
    const timer = setTimeout(
      () => refuse("no complete PROXY protocol header within --upgrade-timeout"),
      this.options.headerTimeoutMs,
    );
    const onData = (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const header = parseProxyHeader(received);
      if (header.state === "incomplete") return;
      if (header.state === "invalid")
        return refuse(`${header.why}, from a trusted proxy with --proxy-protocol on`);
      stop();
      socket.pause();
      if (header.source !== undefined) setProxiedAddress(socket, header.source);
      if (received.length > header.length) socket.unshift(received.subarray(header.length));
      const client = this.options.addresses.peerOf(socket);
      if (!this.options.addresses.isTrusted(client) && !this.hold(socket, client)) return;
      this.httpConnection?.(socket);
      // the HTTP server reads from here on, the bytes after the header first
      socket.resume();
    };
    const stop = () => {
      clearTimeout(timer);
      socket.removeListener("data", onData);
      socket.removeListener("close", stop);
    };
    socket.on("error", ignore);
    socket.on("data", onData);
    socket.on("close", stop);
  }
}
