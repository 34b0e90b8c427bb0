import type { Transport, TransportEvents } from "./websocket.js";

/**
 * HTTP-streaming and server-sent events, for networks that block WebSockets: the same frames as
 * on a WebSocket, read from one long HTTP response, and sent as POSTs naming the stream
 * (docs/protocol.md, "HTTP-streaming and server-sent events"). No token and no stream id is ever
 * in a URL: the `auth` frame travels in a POST body, the stream's id in the body of each POST.
 */

/** `wss://host/ws` → `https://host/ws`: the paths of the HTTP transports are below it. */
export function httpBase(url: string): string {
  return url.replace(/^ws/i, "http");
}

/** The part of the browser's EventSource the SSE transport uses. */
export interface EventSourceLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  addEventListener(type: string, listener: (event: { data: string }) => void): void;
  close(): void;
}

export type EventSourceConstructor = new (
  url: string,
  init?: { withCredentials?: boolean },
) => EventSourceLike;

/** Frames one POST carries at most, in bytes (the gateway takes four times `--max-frame-bytes`). */
const POST_BYTES = 32_768;
const SESSION_LINE = '{"type":"session"';
const CLOSE_LINE = '{"type":"close"';

/** A POST from the page: text, no preflight, the page's cookies along. */
function post(url: string, body: string, signal: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: "POST",
    body,
    headers: { "content-type": "text/plain" },
    credentials: "include",
    cache: "no-store",
    signal,
  });
}

/**
 * One transport over HTTP: the stream a subclass reads, and the POSTs that carry the client's
 * frames to it, one at a time so they arrive in order, with what queued meanwhile in the next.
 */
abstract class HttpTransport implements Transport {
  protected readonly base: string;
  protected readonly abort = new AbortController();
  private streamId: string | undefined;
  private queue: string[] = [];
  private posting = false;
  private started = false;
  private done = false;

  constructor(
    url: string,
    private readonly events: TransportEvents,
    /** The stream's response came (the transport is open, not only asked for). */
    protected readonly responded: () => void,
  ) {
    this.base = httpBase(url);
    // The client sends its `auth` frame on `opened`: it is what opens the stream.
    queueMicrotask(() => {
      if (!this.done) events.opened();
    });
  }

  send(text: string): boolean {
    if (this.done) return false;
    if (!this.started) {
      this.started = true;
      this.start(text).catch(() => this.finish(1006, ""));
    } else {
      this.queue.push(text);
      this.flush();
    }
    return true;
  }

  close(): void {
    this.done = true;
    this.abort.abort();
  }

  /** Opens the stream with the `auth` frame. */
  protected abstract start(auth: string): Promise<void>;

  protected named(id: string): void {
    this.streamId = id;
    this.flush();
  }

  protected received(text: string): void {
    if (!this.done) this.events.received(text);
  }

  protected finish(code: number, reason: string): void {
    if (this.done) return;
    this.close();
    this.events.closed(code, reason);
  }

  private flush(): void {
    if (this.posting || this.streamId === undefined || this.queue.length === 0 || this.done) return;
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && (count === 0 || bytes + this.queue[count]!.length < POST_BYTES))
      bytes += this.queue[count++]!.length;
    const body = [this.streamId, ...this.queue.splice(0, count)].join("\n");
    this.posting = true;
    post(`${this.base}/send`, body, this.abort.signal).then(
      (response) => {
        this.posting = false;
        // The stream is gone (or the frames were refused): as a WebSocket that dropped.
        if (response.status !== 204) this.finish(1006, `HTTP ${response.status}`);
        else this.flush();
      },
      () => this.finish(1006, ""),
    );
  }
}

/** HTTP-streaming: `POST <url>/stream` with `auth`, its response newline-delimited JSON frames. */
class HttpStream extends HttpTransport {
  protected async start(auth: string): Promise<void> {
    const response = await post(`${this.base}/stream`, auth, this.abort.signal);
    if (!response.ok || !response.body) return this.finish(1006, `HTTP ${response.status}`);
    this.responded();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return this.finish(1006, "");
      buffered += value;
      let end = buffered.indexOf("\n");
      for (; end >= 0; end = buffered.indexOf("\n")) {
        const line = buffered.slice(0, end).trim();
        buffered = buffered.slice(end + 1);
        if (line.startsWith(SESSION_LINE)) this.named((JSON.parse(line) as { id: string }).id);
        else if (line.startsWith(CLOSE_LINE)) return this.closeWith(line);
        else if (line !== "") this.received(line);
      }
    }
  }

  private closeWith(text: string): void {
    const { code, reason } = JSON.parse(text) as { code: number; reason: string };
    this.finish(code, reason);
  }
}

/** Server-sent events: `POST <url>/sse` with `auth` for a ticket, then `EventSource` on the ticket. */
class ServerSentEvents extends HttpTransport {
  private source: EventSourceLike | undefined;

  constructor(
    url: string,
    events: TransportEvents,
    responded: () => void,
    private readonly Impl: EventSourceConstructor,
  ) {
    super(url, events, responded);
  }

  protected async start(auth: string): Promise<void> {
    const response = await post(`${this.base}/sse`, auth, this.abort.signal);
    if (!response.ok) return this.finish(1006, `HTTP ${response.status}`);
    const { ticket } = (await response.json()) as { ticket: string };
    if (this.abort.signal.aborted) return;
    const source = new this.Impl(`${this.base}/sse?ticket=${encodeURIComponent(ticket)}`, {
      withCredentials: true,
    });
    this.source = source;
    source.onopen = () => this.responded();
    source.addEventListener("session", (event) => this.named(event.data));
    source.addEventListener("close", (event) => {
      const { code, reason } = JSON.parse(event.data) as { code: number; reason: string };
      this.finish(code, reason);
    });
    source.onmessage = (event) => this.received(event.data);
    // EventSource would reconnect on its own, with a ticket already used: it ends here instead.
    source.onerror = () => this.finish(1006, "");
  }

  override close(): void {
    super.close();
    this.source?.close();
  }
}

export function openHttpStream(url: string, events: TransportEvents, responded: () => void): Transport {
  return new HttpStream(url, events, responded);
}

export function openServerSentEvents(
  Impl: EventSourceConstructor,
): (url: string, events: TransportEvents, responded: () => void) => Transport {
  return (url, events, responded) => new ServerSentEvents(url, events, responded, Impl);
}
