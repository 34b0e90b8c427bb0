import type { IncomingMessage, ServerResponse } from "node:http";
import { type HeraldBackend, isHeraldBackendError } from "../backend/index.js";
import { InboxNotifyBody, LoginBody, NotifyBody, RoomMessageBody, SignOutBody } from "./api-schemas.js";
import { DEMO_ROOMS } from "./demo-rooms.js";
import { DEMO_USERS } from "./demo-users.js";
import { HttpError, readJsonBody, sendJson } from "./http-json.js";
import type { TokenStore } from "./token-store.js";

/** What the page needs to know: where the gateway is, who one can be, how to publish from a terminal. */
export interface PageConfig {
  readonly gatewayUrl: string;
  readonly users: readonly string[];
  /** Rooms a page can join (`channel.<room>`), if its user is a member. */
  readonly rooms: readonly string[];
  /** Flags `herald publish` needs to reach this demo's NATS ("" when it finds it by itself). */
  readonly publishFlags: string;
}

export interface ApiContext {
  readonly backend: HeraldBackend;
  readonly tokens: TokenStore;
  readonly page: Omit<PageConfig, "users" | "rooms">;
}

type Handler = (req: IncomingMessage, res: ServerResponse, ctx: ApiContext) => Promise<void>;

const ROUTES: Readonly<Record<string, { method: "GET" | "POST"; handle: Handler }>> = {
  "/api/config": {
    method: "GET",
    handle: async (_req, res, ctx) =>
      sendJson(res, 200, { ...ctx.page, users: DEMO_USERS, rooms: DEMO_ROOMS } satisfies PageConfig),
  },
  "/api/login": {
    method: "POST",
    // The demo's sign-in: a real application checks a session cookie here before issuing a token.
    handle: async (req, res, ctx) => {
      const { user } = await readJsonBody(req, LoginBody);
      const issued = ctx.tokens.issue(user);
      sendJson(res, 200, { token: issued.token, user: issued.user, expiresAt: issued.expiresAt });
    },
  },
  "/api/notify": {
    method: "POST",
    handle: async (req, res, ctx) => {
      const { user, message } = await readJsonBody(req, NotifyBody);
      try {
        // Resolves once the history stream stored it: then every connection of the user gets it,
        // even one that is reconnecting right now.
        const { subject } = await ctx.backend.publish(user, message);
        sendJson(res, 200, { ok: true, subject });
      } catch (error) {
        if (isHeraldBackendError(error)) throw new HttpError(503, "publish_failed", error.message);
        throw error;
      }
    },
  },
  "/api/inbox-notify": {
    method: "POST",
    handle: async (req, res, ctx) => {
      const { user, message } = await readJsonBody(req, InboxNotifyBody);
      try {
        // Stored in the user's inbox: every page of the user gets it, and the bell keeps it.
        const { id } = await ctx.backend.notify(user, { text: message });
        sendJson(res, 200, { ok: true, id });
      } catch (error) {
        if (isHeraldBackendError(error)) throw new HttpError(503, "notify_failed", error.message);
        throw error;
      }
    },
  },
  "/api/sign-out-everywhere": {
    method: "POST",
    // Tokens first, so no page can sign in again with one; then every open connection of the user.
    handle: async (req, res, ctx) => {
      const { user } = await readJsonBody(req, SignOutBody);
      const revoked = ctx.tokens.revoke(user);
      try {
        await ctx.backend.disconnect(user, { reason: "signed out everywhere" });
      } catch (error) {
        if (isHeraldBackendError(error)) throw new HttpError(503, "disconnect_failed", error.message);
        throw error;
      }
      sendJson(res, 200, { ok: true, revoked });
    },
  },
  "/api/room-message": {
    method: "POST",
    handle: async (req, res, ctx) => {
      const { room, message } = await readJsonBody(req, RoomMessageBody);
      try {
        const { subject } = await ctx.backend.publishToChannel(room, message);
        sendJson(res, 200, { ok: true, subject });
      } catch (error) {
        if (isHeraldBackendError(error)) throw new HttpError(503, "publish_failed", error.message);
        throw error;
      }
    },
  },
};

export function isApiPath(path: string): boolean {
  return path.startsWith("/api/");
}

/** Answers one `/api/...` request; every failure becomes a JSON `{error, message}` with its status. */
export async function handleApi(
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ApiContext,
): Promise<void> {
  try {
    const route = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined;
    if (!route) throw new HttpError(404, "not_found", `no API at ${path}`);
    if (req.method !== route.method) {
      res.setHeader("allow", route.method);
      throw new HttpError(405, "method_not_allowed", `use ${route.method} for ${path}`);
    }
    await route.handle(req, res, ctx);
  } catch (error) {
    if (error instanceof HttpError) {
      sendJson(res, error.status, { error: error.code, message: error.message });
      return;
    }
    sendJson(res, 500, { error: "internal", message: "unexpected error" });
    throw error;
  }
}
