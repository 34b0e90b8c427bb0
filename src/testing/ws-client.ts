import * as v from "valibot";
import { type ClientOptions, WebSocket } from "ws";
import { formatIssues, ServerFrame } from "../protocol/index.js";

export interface ReceivedFrame {
  readonly type: string;
  readonly [key: string]: unknown;
}

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/**
 * A raw protocol client for tests: a real `ws` socket that records every frame, so a test can
 * await the next frame of a type or the close, with a timeout instead of a hang. Every frame the
 * gateway sends is checked against the protocol's server-frame schema: one outside it fails the
 * test at the next wait.
 */
export class TestClient {
  readonly frames: ReceivedFrame[] = [];
  /** Frames the gateway sent that break the protocol (should stay empty). */
  readonly violations: string[] = [];
  private readonly waiters: Array<() => void> = [];
  private answeringPings = false;
  private closeInfo: CloseInfo | undefined;
  private cursor = 0;

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data, isBinary) => {
      const text = isBinary ? "<binary>" : data.toString();
      let frame: ReceivedFrame;
      try {
        frame = JSON.parse(text) as ReceivedFrame;
      } catch {
        frame = { type: "<not json>", text };
      }
      const checked = v.safeParse(ServerFrame, frame);
      if (!checked.success) this.violations.push(`${text.slice(0, 200)}: ${formatIssues(checked.issues)}`);
      this.frames.push(frame);
      if (this.answeringPings && frame.type === "ping") this.send({ type: "pong" });
      this.wake();
    });
    socket.on("close", (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
      this.wake();
    });
    socket.on("error", () => undefined);
  }

  /**
   * `createConnection`: the TCP socket under the WebSocket (e.g. one that writes a PROXY header
   * first); `ca`: the certificate authority a `wss://` URL's server is trusted by.
   */
  static open(
    url: string,
    options: Pick<ClientOptions, "headers" | "localAddress" | "createConnection" | "ca"> = {},
  ): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, options);
      const client = new TestClient(socket);
      socket.once("open", () => resolve(client));
      socket.once("error", reject);
      socket.once("unexpected-response", (_req, res) =>
        reject(new Error(`upgrade refused: ${res.statusCode}`)),
      );
    });
  }

  /** Opens a socket, sends `auth` and waits for `ready` (throws with the error frame otherwise). */
  static async ready(
    url: string,
    token: string,
    extra: Record<string, unknown> = {},
    timeoutMs = 5000,
  ): Promise<TestClient> {
    const client = await TestClient.open(url);
    client.send({ type: "auth", token, ...extra });
    const frame = await client.next(undefined, timeoutMs);
    if (frame.type !== "ready") throw new Error(`expected ready, got ${JSON.stringify(frame)}`);
    return client;
  }

  get closed(): CloseInfo | undefined {
    return this.closeInfo;
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Answers every heartbeat ping from now on, as the client SDK does. */
  answerPings(): this {
    this.answeringPings = true;
    return this;
  }

  /** The next frame not yet taken (optionally of a type, skipping pings), or throws after `timeoutMs`. */
  async next(type?: string, timeoutMs = 5000): Promise<ReceivedFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.checkProtocol();
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++]!;
        if (type === undefined ? frame.type !== "ping" : frame.type === type) return frame;
      }
      if (this.closeInfo)
        throw new Error(
          `socket closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${type ?? "a frame"}`,
        );
      if (!(await this.wait(deadline))) throw new Error(`no ${type ?? "frame"} within ${timeoutMs} ms`);
    }
  }

  /** All `message` frames received so far. */
  messages(): ReceivedFrame[] {
    return this.frames.filter((f) => f.type === "message");
  }

  /** Waits until `count` message frames have arrived in total. */
  async waitForMessages(count: number, timeoutMs = 5000): Promise<ReceivedFrame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages().length < count) {
      if (!(await this.wait(deadline)))
        throw new Error(`only ${this.messages().length} of ${count} messages within ${timeoutMs} ms`);
    }
    this.checkProtocol();
    return this.messages();
  }

  async waitClose(timeoutMs = 5000): Promise<CloseInfo> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closeInfo) {
      if (!(await this.wait(deadline))) throw new Error(`socket not closed within ${timeoutMs} ms`);
    }
    this.checkProtocol();
    return this.closeInfo;
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING)
      this.socket.terminate();
  }

  private checkProtocol(): void {
    if (this.violations.length > 0)
      throw new Error(`the gateway sent a frame outside the protocol: ${this.violations[0]}`);
  }

  private wait(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      }, left);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(done);
    });
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
