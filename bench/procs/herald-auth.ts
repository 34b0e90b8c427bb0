import * as v from "valibot";
import { accept, grant, HeraldBackend, refuse } from "../../src/backend/index.js";
import { isSafeName } from "../../src/protocol/index.js";
import { SHARED_CHANNEL, SUBJECT_PREFIX } from "../lib/commands.js";
import { announceReady, exitWithRunner } from "../lib/ipc.js";

/**
 * The application backend's answerer for Herald, written with Herald's backend SDK as a team would:
 * the token is the user id, every user also gets the shared channel `all` (with `presence`, also
 * presence on it, with a small info object), and may subscribe to any channel (`churn`).
 */
const server = v.parse(v.pipe(v.string(), v.url()), process.argv[2]);
const presence = v.parse(v.optional(v.literal("presence")), process.argv[3]) === "presence";
const backend = await HeraldBackend.connect({ servers: server, prefix: SUBJECT_PREFIX, name: "bench-auth" });
backend.serveAuth((token) =>
  isSafeName(token)
    ? accept({
        user: token,
        channels: [SHARED_CHANNEL],
        ...(presence ? { presence: [SHARED_CHANNEL], info: { name: token } } : {}),
      })
    : refuse("BAD_TOKEN", "unknown token"),
);
backend.onSubscribe(() => grant());
await backend.connection.flush();
exitWithRunner();
process.on("SIGTERM", () => void backend.close().finally(() => process.exit(0)));
announceReady();
