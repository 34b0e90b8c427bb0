import { type ClientOptions, WebSocket } from "ws";
import { FrameRecorder, parseFrame } from "./frame-recorder.js";

export type { CloseInfo, ReceivedFrame } from "./frame-recorder.js";

/**
 * A raw protocol client for tests: a real `ws` socket whose frames are recorded and checked (see
 * `FrameRecorder`).
 */
export class TestClient extends FrameRecorder {
  private constructor(readonly socket: WebSocket) {
    super("socket");
    socket.on("message", (data, isBinary) => {
      const text = isBinary ? "<binary>" : data.toString();
      this.received(parseFrame(text), text);
    });
    socket.on("close", (code, reason) => this.closedWith({ code, reason: reason.toString() }));
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

  send(frame: unknown): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING)
      this.socket.terminate();
  }

  protected pong(): void {
    this.send({ type: "pong" });
  }
}
