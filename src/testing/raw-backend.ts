import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { type AuthRequest, DEFAULT_PREFIX, type SubscribeRequest } from "../protocol/index.js";

/** How the raw backend answers one token: the reply body as given, or the message answered by hand. */
export type RawReply = string | ((msg: Msg, request: AuthRequest) => void);

/**
 * A raw backend on real NATS that can answer whatever a hostile backend would. Auth: a token maps
 * to a raw reply (default: accepted as the user named like the token, expiring in a minute).
 * Subscribe: a channel maps to a raw reply body (default: granted), or to `null` for no answer at
 * all. Counts every request.
 */
export interface RawBackend {
  /** Its NATS connection, e.g. to publish raw bytes. */
  readonly connection: NatsConnection;
  readonly requests: AuthRequest[];
  /** token -> raw reply for connects; `refresh:<token>` for refreshes. */
  readonly replies: Map<string, RawReply>;
  readonly subscribeRequests: SubscribeRequest[];
  /** channel -> raw reply to a subscribe; `null`: none, so the gateway waits until its timeout. */
  readonly subscribeReplies: Map<string, string | null>;
  close(): Promise<void>;
}

export async function startRawBackend(natsUrl: string, prefix = DEFAULT_PREFIX): Promise<RawBackend> {
  const nc: NatsConnection = await connect({ servers: natsUrl });
  const requests: AuthRequest[] = [];
  const replies = new Map<string, RawReply>();
  const subscribeRequests: SubscribeRequest[] = [];
  const subscribeReplies = new Map<string, string | null>();
  nc.subscribe(`${prefix}.auth`, {
    callback: (_err, msg) => {
      const request = msg.json<AuthRequest>();
      requests.push(request);
      const reply = replies.get(request.kind === "refresh" ? `refresh:${request.token}` : request.token);
      if (typeof reply === "function") return reply(msg, request);
      const user = request.user ?? request.token.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 64);
      const expiresAt = Date.now() + 60_000;
      msg.respond(reply ?? JSON.stringify({ ok: true, user: user || "anon", expiresAt }));
    },
  });
  nc.subscribe(`${prefix}.subscribe`, {
    callback: (_err, msg) => {
      const request = msg.json<SubscribeRequest>();
      subscribeRequests.push(request);
      const reply = subscribeReplies.get(request.channel);
      if (reply !== null) msg.respond(reply ?? JSON.stringify({ ok: true }));
    },
  });
  await nc.flush();
  return { connection: nc, requests, replies, subscribeRequests, subscribeReplies, close: () => nc.close() };
}
