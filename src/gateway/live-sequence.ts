import type { Msg } from "@nats-io/nats-core";

/** Where a stored message sits in the stream, from the headers the stream's RePublish adds. */
export interface LiveSequence {
  /** `Nats-Sequence`: the message's stream sequence. */
  readonly seq: number;
  /** `Nats-Last-Sequence`: the sequence of the previous message on the same subject, 0 if none. */
  readonly prev: number;
}

/** The stream position of a live (republished) message, or undefined when it carries none. */
export function liveSequence(msg: Msg): LiveSequence | undefined {
  const headers = msg.headers;
  const seq = Number(headers?.get("Nats-Sequence"));
  const prev = Number(headers?.get("Nats-Last-Sequence") || 0);
  if (!Number.isSafeInteger(seq) || seq <= 0 || !Number.isSafeInteger(prev) || prev < 0) return undefined;
  return { seq, prev };
}
