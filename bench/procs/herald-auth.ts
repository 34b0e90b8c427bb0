import { connect } from "@nats-io/transport-node";
import * as v from "valibot";
import { AuthRequest, isSafeName } from "../../src/protocol/index.js";
import { SHARED_CHANNEL, SUBJECT_PREFIX } from "../lib/commands.js";
import { announceReady, exitWithRunner } from "../lib/ipc.js";

/**
 * The application backend's auth answerer for Herald: the token is the user id, every user also
 * gets the shared channel `all`. A plain NATS responder, as any backend could write it.
 */
const server = v.parse(v.pipe(v.string(), v.url()), process.argv[2]);
const nc = await connect({ servers: server, name: "bench-auth" });
const encoder = new TextEncoder();
const refused = encoder.encode(
  JSON.stringify({ ok: false, error: { code: "BAD_TOKEN", message: "unknown token" } }),
);

nc.subscribe(`${SUBJECT_PREFIX}.auth`, {
  callback: (err, msg) => {
    if (err) return;
    let request: unknown;
    try {
      request = msg.json();
    } catch {
      msg.respond(refused);
      return;
    }
    const parsed = v.safeParse(AuthRequest, request);
    if (!parsed.success || !isSafeName(parsed.output.token)) {
      msg.respond(refused);
      return;
    }
    msg.respond(
      encoder.encode(`{"ok":true,"user":"${parsed.output.token}","channels":["${SHARED_CHANNEL}"]}`),
    );
  },
});
await nc.flush();
exitWithRunner();
process.on("SIGTERM", () => void nc.close().finally(() => process.exit(0)));
announceReady();
