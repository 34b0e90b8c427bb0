import WebSocket from "ws";
import { SHARED_CHANNEL, SUBJECT_PREFIX } from "../lib/commands.js";
import { readStamp } from "../lib/payload.js";
import type { ClientFactory } from "./client.js";
import { shortError } from "./herald.js";

const CRLF = Buffer.from("\r\n");

/**
 * A client of nats-server's own WebSocket listener speaking the NATS text protocol directly: waits
 * for INFO, sends CONNECT + SUB (its user's subject and the shared one) + PING; ready on that PONG.
 * WebSocket frames are chunks of the NATS byte stream, so a control line or payload may span frames.
 */
export const natsWsClient: ClientFactory = ({ url, user, localAddress }, events) => {
  const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, localAddress });
  let ready = false;
  let greeted = false;
  let pending: Buffer = Buffer.alloc(0);
  /** Payload bytes (plus CRLF) still to read for the current MSG, or -1 between messages. */
  let payloadSize = -1;

  const handleLine = (line: string): boolean => {
    if (line.startsWith("MSG ")) {
      // MSG <subject> <sid> [reply-to] <#bytes>
      const size = Number(line.slice(line.lastIndexOf(" ") + 1));
      if (!Number.isInteger(size) || size < 0) return fail(`bad MSG line`);
      payloadSize = size;
      return true;
    }
    if (line === "PING") {
      ws.send("PONG\r\n");
      return true;
    }
    if (line === "PONG") {
      if (!ready) {
        ready = true;
        events.onReady();
      }
      return true;
    }
    if (line.startsWith("INFO ")) {
      if (!greeted) {
        greeted = true;
        const connect = JSON.stringify({
          verbose: false,
          pedantic: false,
          protocol: 1,
          headers: false,
          lang: "bench",
        });
        ws.send(
          `CONNECT ${connect}\r\nSUB ${SUBJECT_PREFIX}.user.${user} 1\r\nSUB ${SUBJECT_PREFIX}.channel.${SHARED_CHANNEL} 2\r\nPING\r\n`,
        );
      }
      return true;
    }
    if (line === "+OK") return true;
    if (line.startsWith("-ERR")) return fail(`nats ${line.slice(5, 60)}`);
    return fail("unknown NATS operation");
  };

  const fail = (reason: string): false => {
    events.onGone(reason);
    ws.terminate();
    return false;
  };

  ws.on("message", (chunk: Buffer) => {
    const buf = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    let at = 0;
    for (;;) {
      if (payloadSize >= 0) {
        if (buf.length - at < payloadSize + 2) break;
        const stamp = readStamp(buf, at, at + payloadSize);
        if (stamp) events.onNotification(stamp.run, stamp.sentNs);
        else events.onStray();
        at += payloadSize + 2;
        payloadSize = -1;
        continue;
      }
      const end = buf.indexOf(CRLF, at);
      if (end < 0) break;
      const line = buf.toString("latin1", at, end);
      at = end + 2;
      if (!handleLine(line)) return;
    }
    pending = at < buf.length ? buf.subarray(at) : Buffer.alloc(0);
    // Keep only the unread bytes, not the whole frame they came in.
    if (pending.length > 0 && pending.buffer === chunk.buffer) pending = Buffer.from(pending);
  });
  ws.on("close", (code) => events.onGone(`close ${code}`));
  ws.on("error", (err) => events.onGone(shortError(err)));
  return { terminate: () => ws.terminate(), pause: () => ws.pause(), resume: () => ws.resume() };
};
