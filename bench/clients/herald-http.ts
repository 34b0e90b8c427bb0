import { Agent, type ClientRequest, type IncomingMessage, request } from "node:http";
import { readStamp } from "../lib/payload.js";
import type { BenchClient, ClientEvents, ClientFactory, ClientOptions } from "./client.js";
import { shortError } from "./herald.js";

/**
 * Herald clients over the HTTP fallbacks, as a browser behind a proxy that blocks WebSockets uses
 * them: HTTP-streaming (`POST /ws/stream` with the auth frame, newline-delimited frames back) and
 * server-sent events (`POST /ws/sse` for a ticket, `GET` the event stream). Pongs go up as POSTs
 * to `/ws/send`, on keep-alive connections shared per source address, as a browser shares them.
 */
const MESSAGE_MARK = Buffer.from('"type":"message"');
const NEWLINE = 0x0a;
const POST_AGENTS = new Map<string, Agent>();

function postAgent(localAddress: string): Agent {
  let agent = POST_AGENTS.get(localAddress);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: 16, localAddress });
    POST_AGENTS.set(localAddress, agent);
  }
  return agent;
}

const httpBase = (url: string) => url.replace(/^ws/, "http");

/** One POST of `body`, its answer's status to `done` (0 when it failed). */
function post(url: string, body: string, localAddress: string, done: (status: number, text: string) => void) {
  const req = request(
    url,
    { method: "POST", agent: postAgent(localAddress), headers: { "content-type": "text/plain" } },
    (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => done(res.statusCode ?? 0, text));
    },
  );
  req.on("error", () => done(0, ""));
  req.end(body);
}

/** Reads a stream's frames as the gateway writes them, and answers its pings. */
class FrameReader {
  private ready = false;
  private streamId: string | undefined;
  private rest: Buffer = Buffer.alloc(0);
  private gone = false;
  /** SSE: the next data line is the close's code and reason. */
  private closing = false;

  constructor(
    private readonly base: string,
    private readonly localAddress: string,
    private readonly events: ClientEvents,
    private readonly sse: boolean,
  ) {}

  read(response: IncomingMessage): void {
    response.on("data", (chunk: Buffer) => this.chunk(chunk));
    response.on("end", () => this.end("ended"));
    response.on("error", (err) => this.end(shortError(err)));
  }

  end(reason: string): void {
    if (this.gone) return;
    this.gone = true;
    this.events.onGone(reason);
  }

  private chunk(chunk: Buffer): void {
    let data = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    let start = 0;
    for (let end = data.indexOf(NEWLINE); end >= 0; end = data.indexOf(NEWLINE, start)) {
      this.line(data, start, end);
      start = end + 1;
    }
    data = data.subarray(start);
    this.rest = data.length === 0 ? Buffer.alloc(0) : Buffer.from(data);
  }

  /** One line: a frame (HTTP-streaming), or a field of an event (SSE: `data: <frame>`). */
  private line(data: Buffer, start: number, end: number): void {
    if (this.sse) {
      if (data[start] !== 0x64) {
        // `event: session` and `event: close` name the data line that follows
        if (data.toString("latin1", start, end) === "event: close") this.closing = true;
        return;
      }
      start += 6; // "data: "
      if (this.streamId === undefined) {
        this.streamId = data.toString("latin1", start, end);
        return;
      }
      if (this.closing) {
        const { code } = JSON.parse(data.toString("utf8", start, end)) as { code: number };
        return this.end(`close ${code}`);
      }
    }
    // Hot path: a message frame is recognised and its stamp read without parsing the JSON.
    if (this.ready) {
      const mark = data.indexOf(MESSAGE_MARK, start);
      if (mark >= 0 && mark < end) {
        const stamp = readStamp(data, start, end);
        if (stamp) this.events.onNotification(stamp.run, stamp.sentNs);
        else this.events.onStray();
        return;
      }
    }
    const text = data.toString("utf8", start, end).trim();
    if (text === "") return;
    let frame: { type?: string; id?: string; code?: number | string };
    try {
      frame = JSON.parse(text) as typeof frame;
    } catch {
      return; // padding, an SSE comment
    }
    switch (frame.type) {
      case "session":
        this.streamId = String(frame.id);
        break;
      case "ready":
        this.ready = true;
        this.events.onReady();
        break;
      case "ping":
        if (this.streamId)
          post(`${this.base}/send`, `${this.streamId}\n{"type":"pong"}`, this.localAddress, (status) => {
            if (status !== 204) this.end(`pong ${status}`);
          });
        break;
      case "error":
        this.end(`error ${frame.code}`);
        break;
      case "close":
        this.end(`close ${frame.code}`);
        break;
      case "message":
        this.events.onStray();
        break;
      default:
        break;
    }
  }
}

function streamClient(
  { url, user, localAddress }: ClientOptions,
  events: ClientEvents,
  sse: boolean,
): BenchClient {
  const base = httpBase(url);
  const reader = new FrameReader(base, localAddress, events, sse);
  const auth = JSON.stringify({ type: "auth", token: user });
  let req: ClientRequest | undefined;
  let response: IncomingMessage | undefined;
  let closed = false;
  const open = (method: string, target: string, body?: string) => {
    if (closed) return;
    req = request(target, { method, agent: false, localAddress }, (res) => {
      response = res;
      if (res.statusCode !== 200) {
        res.resume();
        return reader.end(`HTTP ${res.statusCode}`);
      }
      reader.read(res);
    });
    req.on("error", (err) => reader.end(shortError(err)));
    req.end(body);
  };
  if (!sse) open("POST", `${base}/stream`, auth);
  else
    post(`${base}/sse`, auth, localAddress, (status, text) => {
      if (status !== 200) return reader.end(`ticket ${status}`);
      const { ticket } = JSON.parse(text) as { ticket: string };
      open("GET", `${base}/sse?ticket=${ticket}`);
    });
  return {
    terminate() {
      closed = true;
      req?.destroy();
    },
    pause: () => response?.pause(),
    resume: () => response?.resume(),
  };
}

export const httpStreamClient: ClientFactory = (options, events) => streamClient(options, events, false);
export const sseClient: ClientFactory = (options, events) => streamClient(options, events, true);
