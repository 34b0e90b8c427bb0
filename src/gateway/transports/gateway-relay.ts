import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import * as v from "valibot";
import { RequestMux } from "../../nats/request-mux.js";
import type { Subjects } from "../../protocol/index.js";
import type { Logger } from "../logger.js";
import { STREAM_ID } from "./stream-table.js";

/** What the relay asks of this gateway for the other gateways. */
export interface RelayTarget {
  /** An upstream POST's body for one of this gateway's streams: the HTTP status to answer it with. */
  upstream(body: Buffer): number;
  /** Takes one of this gateway's SSE tickets: the `auth` frame it stands for, once. */
  takeTicket(ticket: string): Buffer | undefined;
}

/** The statuses an upstream POST can be answered with by the gateway holding its stream. */
export type UpstreamStatus = 204 | 400 | 404 | 413;
/** …and when that gateway cannot be asked: it did not answer in time, or NATS is away. */
export type RelayFailure = 502;

const SendReply = v.object({ status: v.picklist([204, 400, 404, 413]) });
const TicketReply = v.object({ frame: v.optional(v.pipe(v.string(), v.maxLength(16 * 1024 * 1024))) });

/** Gateways answer each other within milliseconds; this long means the one asked is gone or stuck. */
const RELAY_TIMEOUT_MS = 5000;
const decoder = new TextDecoder();

/**
 * No sticky sessions: a POST for an HTTP stream, or an SSE ticket's GET, may reach any gateway. The
 * id names the gateway that holds the stream or the ticket, and this passes the request on to it
 * over NATS, on `<prefix>.gateway.<id>.send` and `<prefix>.gateway.<id>.ticket`, where every
 * gateway answers for its own.
 */
export class GatewayRelay {
  private readonly mux: RequestMux;
  private readonly subscriptions: Subscription[];

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    gatewayId: string,
    private readonly target: RelayTarget,
    private readonly usable: () => boolean,
    private readonly logger: Logger,
  ) {
    this.mux = new RequestMux(nc);
    this.subscriptions = [
      nc.subscribe(subjects.gateway(gatewayId, "send"), {
        callback: (err, msg) => {
          if (!err) this.onSend(msg);
        },
      }),
      nc.subscribe(subjects.gateway(gatewayId, "ticket"), {
        callback: (err, msg) => {
          if (!err) this.onTicket(msg);
        },
      }),
    ];
  }

  /** Passes an upstream POST's body to the gateway `gatewayId`: the status to answer the POST with. */
  async send(gatewayId: string, body: Buffer): Promise<UpstreamStatus | RelayFailure> {
    if (!this.usable()) return 502;
    const answer = await this.mux.request(this.subjects.gateway(gatewayId, "send"), body, RELAY_TIMEOUT_MS);
    // No gateway of that id: it stopped, and its streams with it.
    if (answer.kind === "no_responders") return 404;
    if (answer.kind !== "reply") return 502;
    const reply = this.read(answer.msg, SendReply, "send");
    return reply?.status ?? 502;
  }

  /** Takes a ticket that `gatewayId` issued: its `auth` frame, or undefined (unknown, taken, expired). */
  async takeTicket(gatewayId: string, ticket: string): Promise<Buffer | undefined | RelayFailure> {
    if (!this.usable()) return 502;
    const subject = this.subjects.gateway(gatewayId, "ticket");
    const answer = await this.mux.request(subject, Buffer.from(ticket), RELAY_TIMEOUT_MS);
    if (answer.kind === "no_responders") return undefined;
    if (answer.kind !== "reply") return 502;
    const reply = this.read(answer.msg, TicketReply, "ticket");
    if (!reply) return 502;
    return reply.frame === undefined ? undefined : Buffer.from(reply.frame);
  }

  close(): void {
    this.mux.close();
    if (this.nc.isClosed()) return;
    for (const subscription of this.subscriptions) subscription.unsubscribe();
  }

  private onSend(msg: Msg): void {
    let status: number;
    try {
      status = this.target.upstream(Buffer.from(msg.data));
    } catch (err) {
      this.logger.error({ err }, "passing on an upstream POST failed");
      status = 404;
    }
    this.answer(msg, { status });
  }

  private onTicket(msg: Msg): void {
    const ticket = decoder.decode(msg.data);
    const frame = STREAM_ID.test(ticket) ? this.target.takeTicket(ticket) : undefined;
    this.answer(msg, frame === undefined ? {} : { frame: frame.toString() });
  }

  private answer(msg: Msg, reply: unknown): void {
    try {
      msg.respond(Buffer.from(JSON.stringify(reply)));
    } catch {
      // NATS went away meanwhile: the asking gateway times out and answers 502.
    }
  }

  private read<S extends v.GenericSchema>(msg: Msg, schema: S, what: string): v.InferOutput<S> | undefined {
    try {
      const parsed = v.safeParse(schema, JSON.parse(decoder.decode(msg.data)));
      if (parsed.success) return parsed.output;
    } catch {
      // not JSON: as a reply that breaks the schema
    }
    this.logger.warn(
      { bytes: msg.data.length },
      `another gateway's ${what} answer is not valid; answered 502`,
    );
    return undefined;
  }
}
