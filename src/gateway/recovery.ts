import type { ReadyFrame, RecoverRequest } from "../protocol/index.js";
import type { GatewayContext } from "./gateway-context.js";
import type { History } from "./history.js";
import { buildMessageFrame, channelFramePrefix } from "./message-frame.js";
import type { OutboundFrame } from "./outbound-frame.js";

export interface Recoverable {
  finishReplay(
    ready: ReadyFrame,
    replayed: readonly OutboundFrame[],
    positions: ReadonlyMap<string, number>,
  ): void;
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
  const replayed: OutboundFrame[] = [];
  const sameStream = recover !== undefined && recover.epoch === history.epoch;
  let complete = true;
  let streamLast: number | undefined;
  for (const channel of channels) {
    const subject = ctx.subjects.ofChannel(channel);
    const last = await history.lastSequence(subject);
    // An empty channel's position is the whole stream's last sequence: a later recovery can then
    // tell whether anything published after the join was dropped.
    streamLast ??= last > 0 ? undefined : (await history.state(subject)).lastSeq;
    positions.set(channel, last > 0 ? last : (streamLast ?? 0));
    const since = sameStream ? recover.since[channel] : undefined;
    if (since === undefined) continue;
    // A partial replay would look complete to the application: send none, say recovered: false.
    if (!(await history.holdsEverythingAfter(subject, since))) {
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
  session.finishReplay(ready, replayed, positions);
}
