import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { AuthRequest } from "../protocol/index.js";

/**
 * A raw auth responder on real NATS that can answer whatever a hostile backend would: a token maps
 * to a raw reply body (default: accepted as the user named like the token). Counts every request.
 */
export interface RawBackend {
  readonly requests: AuthRequest[];
  /** token -> raw reply for connects; `refresh:<token>` for refreshes. */
  readonly replies: Map<string, string>;
  close(): Promise<void>;
}

export async function startRawBackend(natsUrl: string, prefix = "herald"): Promise<RawBackend> {
  const nc: NatsConnection = await connect({ servers: natsUrl });
  const requests: AuthRequest[] = [];
  const replies = new Map<string, string>();
  nc.subscribe(`${prefix}.auth`, {
    callback: (_err, msg) => {
      const request = msg.json<AuthRequest>();
      requests.push(request);
      const key = request.kind === "refresh" ? `refresh:${request.token}` : request.token;
      const user = request.user ?? request.token.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 64);
      const expiresAt = Date.now() + 60_000;
      msg.respond(replies.get(key) ?? JSON.stringify({ ok: true, user: user || "anon", expiresAt }));
    },
  });
  await nc.flush();
  return { requests, replies, close: () => nc.close() };
}
