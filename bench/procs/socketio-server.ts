import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";
import * as v from "valibot";
import { isSafeName } from "../../src/protocol/index.js";
import { SHARED_CHANNEL } from "../lib/commands.js";
import { announceReady, exitWithRunner } from "../lib/ipc.js";

/**
 * The Socket.IO peer as teams deploy it: Socket.IO 4 with the Redis adapter, WebSocket transport,
 * a handshake middleware checking `auth.token` (the user id here), then rooms `user:<id>` and
 * `channel:all`.
 */
const [port, redisUrl] = v.parse(
  v.tuple([v.pipe(v.string(), v.transform(Number), v.integer()), v.pipe(v.string(), v.url())]),
  process.argv.slice(2),
);
const pub = createClient({ url: redisUrl });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  serveClient: false,
  adapter: createAdapter(pub, sub),
});
io.use((socket, next) => {
  const token: unknown = socket.handshake.auth.token;
  if (!isSafeName(token)) return next(new Error("unauthorized"));
  socket.data.user = token;
  next();
});
io.on("connection", (socket) => {
  void socket.join([`user:${socket.data.user as string}`, `channel:${SHARED_CHANNEL}`]);
});
await new Promise<void>((resolve) => http.listen(port, "127.0.0.1", resolve));
exitWithRunner();
process.on("SIGTERM", () => {
  void io.close();
  process.exit(0);
});
announceReady();
