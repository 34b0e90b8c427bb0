import type { AddressInfo } from "node:net";
import * as v from "valibot";
import { type WebSocket, WebSocketServer } from "ws";
import { type ClientFrame, ClientFrame as ClientFrameSchema } from "../../src/protocol/client-frames.js";
import { formatIssues } from "../../src/protocol/format-issues.js";
import type { ReadyFrame } from "../../src/protocol/server-frames.js";
import { waitUntil } from "../../src/testing/index.js";

// Timers captured before any test fakes them: waiting on real sockets needs the real clock.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, ms));
}

/** Polls `condition` on the real clock until it holds; fails with `what` after `timeoutMs`. */
export function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  return waitUntil(condition, what, { timeoutMs, intervalMs: 5 });
}

/** One client connection as the scripted gateway sees it. */
export class PeerConnection {
  /** Every frame received, each checked against the protocol's ClientFrame schema. */
  readonly frames: ClientFrame[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  constructor(
    readonly socket: WebSocket,
    invalid: string[],
  ) {
    socket.on("message", (data, isBinary) => {
      const text = data.toString();
      let json: unknown;
      try {
        json = isBinary ? undefined : JSON.parse(text);
      } catch {
        invalid.push(`not JSON: ${text}`);
        return;
      }
      const parsed = v.safeParse(ClientFrameSchema, json);
      if (!parsed.success) {
        invalid.push(`${isBinary ? "binary frame" : text}: ${formatIssues(parsed.issues)}`);
        return;
      }
      this.frames.push(parsed.output);
      this.wake();
    });
    socket.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  /** The `index`th frame (0-based) of `type` this connection received, waiting for it if needed. */
  async frame<T extends ClientFrame["type"]>(type: T, index = 0): Promise<Extract<ClientFrame, { type: T }>> {
    await this.waitFor(() => this.framesOf(type).length > index, `frame ${type} #${index}`);
    return this.framesOf(type)[index]!;
  }

  framesOf<T extends ClientFrame["type"]>(type: T): Extract<ClientFrame, { type: T }>[] {
    return this.frames.filter((f): f is Extract<ClientFrame, { type: T }> => f.type === type);
  }

  async waitClosed(): Promise<{ code: number; reason: string }> {
    await this.waitFor(() => this.closed !== undefined, "the client to close");
    return this.closed!;
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Answers the auth frame with `ready` (defaults for a user `1` with a 25 s heartbeat). */
  async ready(overrides: Partial<ReadyFrame> = {}): Promise<void> {
    await this.frame("auth");
    this.send({
      type: "ready",
      user: "1",
      connection: "c1",
      gateway: "g1",
      channels: ["user.1"],
      heartbeat: 25_000,
      ...overrides,
    });
  }

  /** Sends an error frame and closes with its code, as the gateway does. */
  fail(code: string, closeCode: number, extra: Record<string, string> = {}): void {
    this.send({ type: "error", code, message: `${code.toLowerCase()}`, ...extra });
    this.socket.close(closeCode, code);
  }

  private waitFor(condition: () => boolean, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = realSetTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 5000);
      const check = (): void => {
        if (!condition()) return void this.waiters.push(check);
        realClearTimeout(timer);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/**
 * The gateway's side of the wire protocol, played by the test: a real `ws` server on a free port
 * whose every frame is scripted, so each client behaviour can be driven exactly.
 */
export class ScriptedGateway {
  readonly connections: PeerConnection[] = [];
  /** Client frames that failed the protocol schema; a test expects none. */
  readonly invalidFrames: string[] = [];
  private onConnection: ((peer: PeerConnection) => void) | undefined;

  private constructor(
    private readonly server: WebSocketServer,
    readonly url: string,
  ) {
    server.on("connection", (socket) => {
      const peer = new PeerConnection(socket, this.invalidFrames);
      this.connections.push(peer);
      this.onConnection?.(peer);
    });
  }

  static async start(port = 0): Promise<ScriptedGateway> {
    const server = new WebSocketServer({ host: "127.0.0.1", port, path: "/ws" });
    await new Promise<void>((resolve, reject) => {
      server.once("listening", resolve);
      server.once("error", reject);
    });
    const address = server.address() as AddressInfo;
    return new ScriptedGateway(server, `ws://127.0.0.1:${address.port}/ws`);
  }

  /** Runs `script` for every new connection (e.g. answer auth with ready, or refuse it). */
  script(handler: (peer: PeerConnection) => void): void {
    this.onConnection = handler;
  }

  /** The `index`th connection (0-based), waiting for it to arrive. */
  async connection(index: number, timeoutMs = 5000): Promise<PeerConnection> {
    await until(() => this.connections.length > index, `connection #${index}`, timeoutMs);
    return this.connections[index]!;
  }

  async close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
