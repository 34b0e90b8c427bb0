import { randomBytes } from "node:crypto";
import type { Gauge } from "prom-client";
import type { HttpClientSocket, StreamOwner } from "./http-client-socket.js";

/**
 * Ids of HTTP streams and SSE tickets: `<gateway id>.<128 random bits, base64url>`. The gateway's
 * id says where the stream lives (or the ticket waits), so a POST that a load balancer sends to
 * another gateway is passed on to that one; the random part is the credential.
 */
export const STREAM_ID = /^([A-Za-z0-9_-]{1,64})\.[A-Za-z0-9_-]{22}$/;

export function newStreamId(gatewayId: string): string {
  return `${gatewayId}.${randomBytes(16).toString("base64url")}`;
}

/** The gateway an id names; undefined when it is not an id at all. */
export function gatewayOf(id: string): string | undefined {
  return STREAM_ID.exec(id)?.[1];
}

/** The open HTTP streams of this gateway by their secret id, for the POSTs that carry their frames. */
export class StreamTable implements StreamOwner {
  private readonly byId = new Map<string, HttpClientSocket>();

  constructor(private readonly open: Pick<Gauge<"transport">, "inc" | "dec">) {}

  get size(): number {
    return this.byId.size;
  }

  add(socket: HttpClientSocket): void {
    this.byId.set(socket.id, socket);
    this.open.inc({ transport: socket.encoding.transport });
  }

  find(id: string): HttpClientSocket | undefined {
    return this.byId.get(id);
  }

  forget(socket: HttpClientSocket): void {
    if (this.byId.get(socket.id) !== socket) return;
    this.byId.delete(socket.id);
    this.open.dec({ transport: socket.encoding.transport });
  }
}
