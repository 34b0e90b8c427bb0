import { io } from "socket.io-client";
import * as v from "valibot";
import type { ClientFactory } from "./client.js";

const Notification = v.object({ r: v.number(), t: v.number() });

/** A Socket.IO client (WebSocket transport only, no reconnection) authenticating with `auth.token`. */
export const socketIoClient: ClientFactory = ({ url, user, localAddress }, events) => {
  const socket = io(url, {
    transports: ["websocket"],
    auth: { token: user },
    reconnection: false,
    forceNew: true,
    timeout: 60_000,
    localAddress,
  } as Parameters<typeof io>[1]);
  socket.on("connect", () => events.onReady());
  socket.on("message", (data: unknown) => {
    // Already parsed by socket.io-client; the shape check is the cheap part.
    if (typeof data === "object" && data !== null && v.is(Notification, data)) {
      events.onNotification(data.r, data.t);
    } else events.onStray();
  });
  socket.on("connect_error", (err) => events.onGone(`connect_error ${err.message.slice(0, 40)}`));
  socket.on("disconnect", (reason) => events.onGone(`disconnect ${reason}`));
  return {
    terminate: () => {
      socket.io.engine?.close();
      socket.disconnect();
    },
    pause: () => underlyingWebSocket(socket.io.engine?.transport)?.pause(),
    resume: () => underlyingWebSocket(socket.io.engine?.transport)?.resume(),
  };
};

/** engine.io-client's WebSocket transport keeps its `ws` socket in `.ws`; Socket.IO has no API to stop reading. */
function underlyingWebSocket(transport: unknown): { pause(): void; resume(): void } | undefined {
  if (typeof transport !== "object" || transport === null || !("ws" in transport)) return undefined;
  const ws: unknown = transport.ws;
  if (
    typeof ws === "object" &&
    ws !== null &&
    "pause" in ws &&
    typeof ws.pause === "function" &&
    "resume" in ws &&
    typeof ws.resume === "function"
  )
    return ws as { pause(): void; resume(): void };
  return undefined;
}
