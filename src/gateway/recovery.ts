import type { ReadyFrame, RecoverRequest } from "../protocol/index.js";
import type { GatewayContext } from "./gateway-context.js";
import type { History } from "./history.js";
import { buildMessageFrame, channelFramePrefix } from "./message-frame.js";

export interface Recoverable {
  send(frame: Buffer): void;
  finishReplay(replayed: readonly Buffer[], positions: ReadonlyMap<string, number>): void;
}

/**
 * Runs after the session joined its channels (live frames are being held). For each channel it
 * reads the stream's last sequence — the position live delivery continues from — and replays what
 * the client missed since the sequence it sent, with `prev` chained so the client can check the
 * replay has no holes. Then sends `ready` and lets the held live frames through. When the stream no
 * longer holds all that was missed, nothing is replayed and `recovered` is false: the application
 * refetches its state instead of trusting a partial history.
 */
export async function recoverChannels(
  session: Recoverable,
  history: History,
  ctx: GatewayContext,
  channels: readonly string[],
  recover: RecoverRequest | undefined,
  ready: ReadyFrame,
): Promise<void> {
  const positions = new Map<string, number>();
  const replayed: Buffer[] = [];
  const sameStream = recover !== undefined && recover.epoch === history.epoch;
  let complete = true;
  for (const channel of channels) {
    const subject = ctx.subjects.ofChannel(channel);
    const last = await history.lastSequence(subject);
    positions.set(channel, last);
    const since = sameStream ? recover.since[channel] : undefined;
    if (since === undefined) continue;
    // Limits discard oldest first: if `since` itself is still stored, everything after it is too.
    // If it is gone, what came after may be gone as well (even all of it: `last` is then 0), and a
    // partial replay would look complete to the application: send none, say recovered: false.
    if (since > 0 && !(await history.holds(subject, since))) {
      complete = false;
      continue;
    }
    if (since >= last) continue;
    const prefix = channelFramePrefix(channel);
    let prev = since;
    for await (const message of history.replay(subject, since, last)) {
      replayed.push(buildMessageFrame(prefix, message.data, message.seq, prev));
      prev = message.seq;
    }
  }
  ready.epoch = history.epoch;
  ready.positions = Object.fromEntries(positions);
  if (recover !== undefined) ready.recovered = sameStream && complete;
  session.send(Buffer.from(JSON.stringify(ready)));
  session.finishReplay(replayed, positions);
}
