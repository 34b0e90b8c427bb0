import * as v from "valibot";
import WebSocket from "ws";
import { ServerFrame } from "../../src/protocol/index.js";
import { readStamp } from "../lib/payload.js";
import type { ClientFactory } from "./client.js";

const MESSAGE_MARK = Buffer.from('"type":"message"');

/** A Herald client: auth frame with the user id as token, `ready`, then message frames. */
export const heraldClient: ClientFactory = ({ url, user, localAddress }, events) => {
  const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, localAddress });
  let ready = false;
  ws.on("open", () => ws.send(JSON.stringify({ type: "auth", token: user })));
  ws.on("message", (data: Buffer, isBinary) => {
    // Hot path: a message frame is recognised and its stamp read without parsing the JSON.
    if (ready && !isBinary && data.indexOf(MESSAGE_MARK) >= 0) {
      const stamp = readStamp(data);
      if (stamp) events.onNotification(stamp.run, stamp.sentNs);
      else events.onStray();
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data.toString());
    } catch {
      events.onGone("invalid JSON from server");
      ws.terminate();
      return;
    }
    const frame = v.safeParse(ServerFrame, json);
    if (!frame.success) {
      events.onGone("invalid frame from server");
      ws.terminate();
      return;
    }
    switch (frame.output.type) {
      case "ready":
        ready = true;
        events.onReady();
        break;
      case "ping":
        ws.send('{"type":"pong"}');
        break;
      case "error":
        events.onGone(`error ${frame.output.code}`);
        break;
      case "message":
        events.onStray();
        break;
      default:
        break;
    }
  });
  ws.on("close", (code) => events.onGone(`close ${code}`));
  ws.on("error", (err) => events.onGone(shortError(err)));
  return { terminate: () => ws.terminate(), pause: () => ws.pause(), resume: () => ws.resume() };
};

export function shortError(err: Error & { code?: string }): string {
  return err.code ?? err.message.slice(0, 60);
}
