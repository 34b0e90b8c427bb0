import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { NatsConnection } from "@nats-io/nats-core";
import { decodeClientFrame, type Subjects } from "../../protocol/index.js";
import type { GatewayConfig } from "../config/config.js";
import type { ClientSocket, ClientSocketEvents } from "../connection/client-socket.js";
import type { UpgradeGate } from "../http/upgrade-gate.js";
import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";
import { GatewayRelay } from "./gateway-relay.js";
import { HttpClientSocket } from "./http-client-socket.js";
import { SseTickets } from "./sse-tickets.js";
import { NDJSON, SSE, type StreamEncoding } from "./stream-encoding.js";
import { gatewayOf, newStreamId, StreamTable } from "./stream-table.js";
import { parseUpstreamBody } from "./upstream-body.js";

export interface HttpTransportsOptions {
  readonly config: GatewayConfig;
  readonly gate: UpgradeGate;
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  /** False while NATS is away: nothing is passed on to other gateways then. */
  readonly usable: () => boolean;
  readonly draining: () => boolean;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** Starts a session on a stream, as on a WebSocket: registered for heartbeats, control and drains. */
  readonly startSession: (socket: ClientSocket, address: string, req: IncomingMessage) => ClientSocketEvents;
}

/** Frames one upstream POST may carry together, in bytes, as a multiple of `--max-frame-bytes`. */
const UPSTREAM_FRAMES = 4;
/** Room for the stream's id line. */
const ID_LINE_BYTES = 128;

/** Headers of every stream: caches and buffering proxies pass each frame on as it comes. */
const STREAM_HEADERS: OutgoingHttpHeaders = {
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
  "x-content-type-options": "nosniff",
};

type Route = "stream" | "sse" | "send";
type Refused = { readonly status: number; readonly retryAfter?: number };

/**
 * HTTP-streaming and server-sent events on the WebSocket's port, for clients whose WebSockets a
 * proxy blocks, with the same frames and the same limits:
 *
 * - `POST <path>/stream` with the `auth` frame: the response is the connection's frames, one JSON
 *   text per line;
 * - `POST <path>/sse` with the `auth` frame: a one-time ticket; `GET <path>/sse?ticket=…`: the
 *   connection's frames as server-sent events;
 * - `POST <path>/send` with the stream's id and then client frames, one per line.
 *
 * A stream is a session like a WebSocket's, behind the `ClientSocket` seam. Every request is
 * checked against `--allowed-origins` (preflights too) and opening a stream against the limits of
 * its client address, as an upgrade is. No token and no stream id is ever in a URL.
 */
export class HttpTransports {
  private readonly routes: ReadonlyMap<string, Route>;
  private readonly table: StreamTable;
  private readonly tickets: SseTickets;
  private readonly relay: GatewayRelay;
  private readonly config: GatewayConfig;
  private readonly gate: UpgradeGate;

  constructor(private readonly options: HttpTransportsOptions) {
    const { config, gate, nc, subjects, usable, logger, metrics } = options;
    this.config = config;
    this.gate = gate;
    this.routes = new Map<string, Route>([
      [`${config.path}/stream`, "stream"],
      [`${config.path}/sse`, "sse"],
      [`${config.path}/send`, "send"],
    ]);
    this.table = new StreamTable(metrics.httpStreams);
    this.tickets = new SseTickets(config.gatewayId, config.sseTicketTtl);
    this.relay = new GatewayRelay(
      nc,
      subjects,
      config.gatewayId,
      {
        upstream: (body) => this.deliverHere(body),
        takeTicket: (ticket) => this.takeTicketHere(ticket),
      },
      usable,
      logger,
    );
  }

  /** Open HTTP streams. */
  get streams(): number {
    return this.table.size;
  }

  /** Serves the request when it is for a transport path (true), else leaves it (false). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const route = this.routes.get((req.url ?? "/").split("?")[0] ?? "");
    if (route === undefined) return false;
    res.on("error", ignore);
    this.serve(route, req, res).catch((err: unknown) => {
      this.options.logger.error({ err }, "an HTTP transport request failed");
      if (!res.headersSent) answer(res, 500, {}, { error: "internal error" });
      else res.destroy();
    });
    return true;
  }

  close(): void {
    this.relay.close();
    this.tickets.close();
  }

  private async serve(route: Route, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const origin = req.headers.origin;
    if (!this.gate.allowsOrigin(origin)) {
      this.gate.intake.upgraded(req.socket);
      this.options.metrics.refusedUpgrades.inc({ reason: "origin" });
      return answer(res, 403, {}, { error: "origin not allowed" });
    }
    const cors = corsHeaders(origin);
    const method = req.method ?? "GET";
    if (method === "OPTIONS") return preflight(res, cors);
    if (route === "stream" && method === "POST") return this.openStream(req, res, cors);
    if (route === "sse" && method === "POST") return this.issueTicket(req, res, cors);
    if (route === "sse" && method === "GET") return this.redeemTicket(req, res, cors);
    if (route === "send" && method === "POST") return this.upstream(req, res, cors);
    answer(res, 405, { ...cors, allow: route === "sse" ? "GET, POST, OPTIONS" : "POST, OPTIONS" });
  }

  /** `POST <path>/stream`: admitted like an upgrade; the body is the `auth` frame. */
  private async openStream(req: IncomingMessage, res: ServerResponse, cors: OutgoingHttpHeaders) {
    if (this.options.draining()) return answer(res, 503, cors, { error: "draining" });
    const admitted = this.gate.admit(req, "connection");
    if (!admitted.admitted) return refuse(res, cors, admitted);
    this.gate.holdUntilClose(res, admitted.key);
    const body = await readBody(req, this.config.maxFrameBytes);
    if (body === "too_large") return tooLarge(res, cors, "the auth frame is too large");
    if (body === "aborted") return;
    this.begin(req, res, cors, NDJSON, admitted.address, body);
  }

  /** `POST <path>/sse`: half a connect (its rate is taken here); the body must be an `auth` frame. */
  private async issueTicket(req: IncomingMessage, res: ServerResponse, cors: OutgoingHttpHeaders) {
    if (this.options.draining()) return answer(res, 503, cors, { error: "draining" });
    const admitted = this.gate.admit(req, "attempt");
    if (!admitted.admitted) return refuse(res, cors, admitted);
    const body = await readBody(req, this.config.maxFrameBytes);
    if (body === "too_large") return tooLarge(res, cors, "the auth frame is too large");
    if (body === "aborted") return;
    const decoded = decodeClientFrame(body, false);
    if (!decoded.ok || decoded.frame.type !== "auth") {
      const refusal = decoded.ok
        ? { code: "INVALID_FRAME", message: "a ticket is for an auth frame" }
        : { code: decoded.code, message: decoded.message };
      return answer(res, 400, cors, { type: "error", ...refusal });
    }
    const ticket = this.tickets.issue(body);
    if (ticket === undefined) {
      this.options.metrics.sseTickets.inc({ result: "refused" });
      this.options.logger.warn(
        "SSE tickets waiting for their GET hold 16 MiB of auth frames; new ones are refused with 503 until they are used or expire (lower --sse-ticket-ttl)",
      );
      return answer(res, 503, { ...cors, "retry-after": "1" }, { error: "too many tickets waiting" });
    }
    this.options.metrics.sseTickets.inc({ result: "issued" });
    answer(res, 200, { ...cors, "cache-control": "no-store" }, { ticket, expiresIn: this.tickets.ttlMs });
  }

  /** `GET <path>/sse?ticket=…`: takes a slot (the ticket took the rate), then the ticket, anywhere. */
  private async redeemTicket(req: IncomingMessage, res: ServerResponse, cors: OutgoingHttpHeaders) {
    if (this.options.draining()) return answer(res, 503, cors, { error: "draining" });
    const ticket = new URL(req.url ?? "/", "http://gateway").searchParams.get("ticket") ?? "";
    const issuer = gatewayOf(ticket);
    if (issuer === undefined) {
      this.gate.intake.upgraded(req.socket);
      return answer(res, 400, cors, { error: "a ticket from POST to this path is needed" });
    }
    const admitted = this.gate.admit(req, "slot");
    if (!admitted.admitted) return refuse(res, cors, admitted);
    this.gate.holdUntilClose(res, admitted.key);
    const frame =
      issuer === this.config.gatewayId
        ? this.tickets.take(ticket)
        : await this.relay.takeTicket(issuer, ticket);
    if (frame === 502) return answer(res, 502, cors, { error: "the gateway of this ticket did not answer" });
    if (frame === undefined) {
      this.options.metrics.sseTickets.inc({ result: "unknown" });
      return answer(res, 404, cors, { error: "unknown, used or expired ticket" });
    }
    this.options.metrics.sseTickets.inc({ result: "redeemed" });
    this.begin(req, res, cors, SSE, admitted.address, frame);
  }

  /** Starts the stream and its session, whose first frame is the `auth` frame. */
  private begin(
    req: IncomingMessage,
    res: ServerResponse,
    cors: OutgoingHttpHeaders,
    encoding: StreamEncoding,
    address: string,
    authFrame: Buffer,
  ): void {
    if (res.destroyed) return; // the client left while its request was read
    const socket = new HttpClientSocket(newStreamId(this.config.gatewayId), res, encoding, this.table);
    res.writeHead(200, { ...STREAM_HEADERS, ...cors, "content-type": encoding.contentType });
    res.write(encoding.opening(socket.id));
    this.table.add(socket);
    socket.listen(this.options.startSession(socket, address, req));
    socket.receive([authFrame], this.config.maxFrameBytes);
  }

  /** `POST <path>/send`: a stream's frames, here or at the gateway that holds it. */
  private async upstream(req: IncomingMessage, res: ServerResponse, cors: OutgoingHttpHeaders) {
    this.gate.intake.upgraded(req.socket);
    const limit = UPSTREAM_FRAMES * this.config.maxFrameBytes + ID_LINE_BYTES;
    const body = await readBody(req, limit);
    if (body === "aborted") return;
    const { metrics } = this.options;
    if (body === "too_large") {
      metrics.upstreamPosts.inc({ result: "too_large" });
      return tooLarge(res, cors, "too many frames in one POST");
    }
    const issuer = gatewayOf(
      body.toString("latin1", 0, Math.min(body.length, ID_LINE_BYTES)).split("\n")[0]!,
    );
    const status =
      issuer === undefined || issuer === this.config.gatewayId
        ? this.deliverHere(body)
        : await this.relayed(issuer, body);
    if (status === 404) {
      // A POST for no stream costs a connection attempt: one address cannot probe ids for free.
      const admitted = this.gate.admit(req, "attempt");
      if (!admitted.admitted) return refuse(res, cors, admitted);
    }
    if (status === 204) return answer(res, 204, cors);
    answer(res, status, cors, { error: UPSTREAM_ERRORS[status] ?? "refused" });
  }

  private async relayed(issuer: string, body: Buffer): Promise<number> {
    const status = await this.relay.send(issuer, body);
    if (status === 204) this.options.metrics.upstreamPosts.inc({ result: "relayed" });
    if (status === 502) this.options.metrics.upstreamPosts.inc({ result: "relay_failed" });
    return status;
  }

  /** An upstream POST's body for a stream of this gateway (also when another gateway passed it on). */
  private deliverHere(body: Buffer): number {
    const { metrics } = this.options;
    const parsed = parseUpstreamBody(body);
    if (!parsed) {
      metrics.upstreamPosts.inc({ result: "invalid" });
      return 400;
    }
    const socket = this.table.find(parsed.streamId);
    if (!socket?.isOpen) {
      metrics.upstreamPosts.inc({ result: "unknown_stream" });
      return 404;
    }
    metrics.upstreamPosts.inc({ result: "delivered" });
    socket.receive(parsed.frames, this.config.maxFrameBytes);
    return 204;
  }

  private takeTicketHere(ticket: string): Buffer | undefined {
    return this.tickets.take(ticket);
  }
}

const REFUSALS: Readonly<Record<number, string>> = {
  403: "origin not allowed",
  429: "too many connections from this address; retry later",
  503: "the gateway is full; try another",
};

const UPSTREAM_ERRORS: Readonly<Record<number, string>> = {
  400: "the body must start with a stream id line",
  404: "no such stream: it ended",
  502: "the gateway holding the stream did not answer",
};

/** Reads a request body of at most `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | "too_large" | "aborted"> {
  const declared = Number(req.headers["content-length"]);
  if (declared > max) return Promise.resolve("too_large");
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > max) {
        req.off("data", onData);
        resolve("too_large");
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(length > max ? "too_large" : Buffer.concat(chunks, length)));
    req.once("error", () => resolve("aborted"));
    req.once("close", () => {
      if (!req.complete) resolve("aborted");
    });
  });
}

/** The CORS answer for a page of an allowed origin (a request without `Origin` needs none). */
function corsHeaders(origin: string | undefined): OutgoingHttpHeaders {
  if (origin === undefined) return {};
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-credentials": "true",
    vary: "Origin",
  };
}

/** A CORS preflight from a page of an allowed origin (the origin was checked before). */
function preflight(res: ServerResponse, cors: OutgoingHttpHeaders): void {
  answer(res, 204, {
    ...cors,
    "access-control-allow-methods": "GET, POST",
    "access-control-allow-headers": "content-type",
    "access-control-max-age": "3600",
  });
}

function refuse(res: ServerResponse, cors: OutgoingHttpHeaders, refused: Refused): void {
  const headers =
    refused.retryAfter === undefined ? cors : { ...cors, "retry-after": String(refused.retryAfter) };
  answer(res, refused.status, headers, { error: REFUSALS[refused.status] ?? "refused" });
}

function answer(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body?: unknown): void {
  if (res.headersSent || res.destroyed) return;
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** The rest of the body is not read: the connection closes after the answer. */
function tooLarge(res: ServerResponse, cors: OutgoingHttpHeaders, error: string): void {
  answer(res, 413, { ...cors, connection: "close" }, { error });
}

function ignore(): void {}
