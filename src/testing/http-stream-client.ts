import { type IncomingHttpHeaders, type IncomingMessage, request } from "node:http";
import { FrameRecorder, parseFrame } from "./frame-recorder.js";

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
 * the close, and sends frames as upstream POSTs naming the stream (see `FrameRecorder`).
 */
export class HttpStreamClient extends FrameRecorder {
  /** Bytes of the response before the first frame, as they came (the stream's opening). */
  opening = "";
  /** The stream's id, from its opening. */
  streamId: string | undefined;
  private buffered = "";

  private constructor(
    readonly base: string,
    readonly transport: HttpTransport,
    readonly response: IncomingMessage,
    private readonly headers: Record<string, string>,
  ) {
    super("stream");
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

  /** Stops reading the response (the TCP window fills up), or reads again. */
  pause(): void {
    this.response.pause();
  }

  resume(): void {
    this.response.resume();
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
    const frame = parseFrame(line);
    if (frame.type === "session" && this.streamId === undefined) {
      this.opening += `${line}\n`;
      this.streamId = String(frame.id);
    } else if (frame.type === "close") {
      this.closedWith({ code: Number(frame.code), reason: String(frame.reason) });
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
      const close = parseFrame(text);
      this.closedWith({ code: Number(close.code), reason: String(close.reason) });
    } else this.received(parseFrame(text), text);
  }

  protected pong(): void {
    void this.send({ type: "pong" }).catch(() => undefined);
  }

  private ended(): void {
    this.closedWith({ code: 1006, reason: "" });
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
