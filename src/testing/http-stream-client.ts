import { type IncomingHttpHeaders, type IncomingMessage, request } from "node:http";
import * as v from "valibot";
import { formatIssues, ServerFrame } from "../protocol/index.js";
import type { CloseInfo, ReceivedFrame } from "./ws-client.js";

export type HttpTransport = "http-stream" | "sse";

export interface HttpStreamOptions {
  readonly transport?: HttpTransport;
  /** Extra request headers (e.g. `origin`, `x-forwarded-for`) on every request. */
  readonly headers?: Record<string, string>;
  /** SSE: where the ticket's GET goes (another gateway's base URL); the POST's gateway by default. */
  readonly redeemAt?: string;
}

/** What a refused request got: its status, headers and body. */
export class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    readonly body: string,
  ) {
    super(`refused: ${status} ${body.slice(0, 200)}`);
  }
}

/** `ws://host:port/ws` → `http://host:port/ws`: the base of the HTTP transports' paths. */
export function httpBase(url: string): string {
  return url.replace(/^ws(s?):/, "http$1:");
}

/**
 * A raw client of the HTTP transports for tests, the counterpart of `TestClient`: it opens an
 * HTTP stream (or an SSE ticket and its stream) with plain `node:http`, records every frame and
 * the close, and sends frames as upstream POSTs naming the stream. Every frame is checked against
 * the protocol's server-frame schema.
 */
export class HttpStreamClient {
  readonly frames: ReceivedFrame[] = [];
  readonly violations: string[] = [];
  /** Bytes of the response before the first frame, as they came (the stream's opening). */
  opening = "";
  /** The stream's id, from its opening. */
  streamId: string | undefined;
  private closeInfo: CloseInfo | undefined;
  private readonly waiters: Array<() => void> = [];
  private cursor = 0;
  private answeringPings = false;
  private buffered = "";

  private constructor(
    readonly base: string,
    readonly transport: HttpTransport,
    readonly response: IncomingMessage,
    private readonly headers: Record<string, string>,
  ) {
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => this.read(chunk));
    response.on("end", () => this.ended());
    response.on("close", () => this.ended());
    response.on("error", () => this.ended());
  }

  /** Opens a stream with `authFrame` as its first frame; throws `HttpRefusal` on a status other than 200. */
  static async open(
    url: string,
    authFrame: unknown,
    options: HttpStreamOptions = {},
  ): Promise<HttpStreamClient> {
    const base = httpBase(url);
    const transport = options.transport ?? "http-stream";
    const headers = options.headers ?? {};
    const body = typeof authFrame === "string" ? authFrame : JSON.stringify(authFrame);
    let response: IncomingMessage;
    if (transport === "http-stream") {
      response = await send("POST", `${base}/stream`, headers, body);
    } else {
      const ticket = await HttpStreamClient.ticket(base, body, headers);
      response = await send("GET", `${options.redeemAt ?? base}/sse?ticket=${ticket}`, headers);
    }
    if (response.statusCode !== 200)
      throw new HttpRefusal(response.statusCode ?? 0, response.headers, await text(response));
    return new HttpStreamClient(base, transport, response, headers);
  }

  /** Opens a stream, sends `auth` and waits for `ready` (throws with what came otherwise). */
  static async ready(
    url: string,
    token: string,
    extra: Record<string, unknown> = {},
    options: HttpStreamOptions = {},
  ): Promise<HttpStreamClient> {
    const client = await HttpStreamClient.open(url, { type: "auth", token, ...extra }, options);
    const frame = await client.next();
    if (frame.type !== "ready") throw new Error(`expected ready, got ${JSON.stringify(frame)}`);
    return client;
  }

  /** `POST <base>/sse` with an `auth` frame: the ticket, or `HttpRefusal`. */
  static async ticket(base: string, body: string, headers: Record<string, string> = {}): Promise<string> {
    const response = await send("POST", `${base}/sse`, headers, body);
    const answer = await text(response);
    if (response.statusCode !== 200)
      throw new HttpRefusal(response.statusCode ?? 0, response.headers, answer);
    return (JSON.parse(answer) as { ticket: string }).ticket;
  }

  get closed(): CloseInfo | undefined {
    return this.closeInfo;
  }

  /**
   * POSTs frames to the stream (to `at`, another gateway's base URL, when given): the status. A
   * string is sent as it is, as one line.
   */
  async send(frames: unknown | unknown[], at?: string): Promise<number> {
    const list = Array.isArray(frames) ? frames : [frames];
    const lines = list.map((frame) => (typeof frame === "string" ? frame : JSON.stringify(frame)));
    const response = await send(
      "POST",
      `${httpBase(at ?? this.base)}/send`,
      this.headers,
      [this.streamId, ...lines].join("\n"),
    );
    await text(response);
    return response.statusCode ?? 0;
  }

  /** Answers every heartbeat ping from now on, as the client SDK does. */
  answerPings(): this {
    this.answeringPings = true;
    return this;
  }

  /** Stops reading the response (the TCP window fills up), or reads again. */
  pause(): void {
    this.response.pause();
  }

  resume(): void {
    this.response.resume();
  }

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
          `stream closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${type ?? "a frame"}`,
        );
      if (!(await this.wait(deadline))) throw new Error(`no ${type ?? "frame"} within ${timeoutMs} ms`);
    }
  }

  messages(): ReceivedFrame[] {
    return this.frames.filter((f) => f.type === "message");
  }

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
      if (!(await this.wait(deadline))) throw new Error(`stream not closed within ${timeoutMs} ms`);
    }
    this.checkProtocol();
    return this.closeInfo;
  }

  close(): void {
    this.response.destroy();
  }

  private read(chunk: string): void {
    this.buffered += chunk;
    const separator = this.transport === "sse" ? "\n\n" : "\n";
    for (let end = this.buffered.indexOf(separator); end >= 0; end = this.buffered.indexOf(separator)) {
      const unit = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + separator.length);
      if (this.transport === "sse") this.readEvent(unit);
      else this.readLine(unit);
    }
    this.wake();
  }

  private readLine(line: string): void {
    if (line.trim() === "") {
      if (this.frames.length === 0) this.opening += `${line}\n`;
      return;
    }
    const frame = parse(line);
    if (frame.type === "session" && this.streamId === undefined) {
      this.opening += `${line}\n`;
      this.streamId = String(frame.id);
    } else if (frame.type === "close") {
      this.closeInfo = { code: Number(frame.code), reason: String(frame.reason) };
    } else this.received(frame, line);
  }

  private readEvent(block: string): void {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (this.frames.length === 0) this.opening += `${block}\n\n`;
    if (data.length === 0) return;
    const text = data.join("\n");
    if (event === "session") this.streamId ??= text;
    else if (event === "close") {
      const close = parse(text);
      this.closeInfo = { code: Number(close.code), reason: String(close.reason) };
    } else this.received(parse(text), text);
  }

  private received(frame: ReceivedFrame, text: string): void {
    const checked = v.safeParse(ServerFrame, frame);
    if (!checked.success) this.violations.push(`${text.slice(0, 200)}: ${formatIssues(checked.issues)}`);
    this.frames.push(frame);
    if (this.answeringPings && frame.type === "ping") void this.send({ type: "pong" }).catch(() => undefined);
  }

  private ended(): void {
    this.closeInfo ??= { code: 1006, reason: "" };
    this.wake();
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

function parse(text: string): ReceivedFrame {
  try {
    return JSON.parse(text) as ReceivedFrame;
  } catch {
    return { type: "<not json>", text };
  }
}

/** One HTTP request on a connection of its own (no agent: a stream must not hold a pooled socket). */
export function send(
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: string,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: { ...headers, ...(body === undefined ? {} : { "content-type": "text/plain" }) },
        agent: false,
      },
      resolve,
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** The whole body of a response, as text. */
export async function text(response: IncomingMessage): Promise<string> {
  response.setEncoding("utf8");
  let body = "";
  for await (const chunk of response) body += chunk;
  return body;
}
