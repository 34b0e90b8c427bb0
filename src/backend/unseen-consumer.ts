import { type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import * as v from "valibot";
import { formatIssues, UnseenEvent } from "../protocol/index.js";
import { HeraldBackendError, NotConnectedError } from "./errors.js";
import { type EventSource, type EventSubscription, ensureDurable, run } from "./event-consumer.js";

/** An `unseen` event as a handler gets it: with its stream sequence in the events stream. */
export type StoredUnseenEvent = UnseenEvent & { readonly seq: number };

export type UnseenHandler = (event: StoredUnseenEvent) => void | Promise<void>;

export interface UnseenConsumerOptions {
  /** The durable consumer's name (1-64 of A-Z a-z 0-9 _ -); its instances share it. */
  durable: string;
  /** Where a new durable consumer starts: every stored event (`all`, default) or new ones only. */
  start?: "all" | "new";
  /** The events stream (the gateways' `--events-stream`). Default HERALD_EVENTS. */
  stream?: string;
  /** ms a handler may take before its event is delivered again. Default 30 000. */
  ackWait?: number;
}

const Options = v.object({
  durable: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ -")),
  start: v.optional(v.picklist(["all", "new"]), "all"),
  stream: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/)), "HERALD_EVENTS"),
  ackWait: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1000), v.maxValue(3_600_000)), 30_000),
});
const decoder = new TextDecoder();

/**
 * Reads the inbox's `unseen` events (`<prefix>.events.unseen.<user>`, gateways with
 * `--inbox-unseen-after`) with a durable consumer, one at a time, as `consumeEvents` reads
 * connection events: the moment to send the email or the push a user did not see in the app.
 */
export async function consumeUnseen(
  { nc, prefix, report }: EventSource,
  handler: UnseenHandler,
  options: UnseenConsumerOptions,
): Promise<EventSubscription> {
  const parsed = v.safeParse(Options, options);
  if (!parsed.success)
    throw new HeraldBackendError(
      "INVALID_OPTIONS",
      `invalid onUnseen options: ${formatIssues(parsed.issues)}`,
    );
  const { durable, start, stream, ackWait } = parsed.output;
  if (nc.isClosed()) throw new NotConnectedError("the NATS connection is closed");
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  await ensureDurable(jsm, stream, durable, { filter: `${prefix}.events.unseen.>`, start, ackWait });
  const consumer = await jetstream(nc).consumers.get(stream, durable);
  let stopping = false;
  const loop = run(consumer, handler, parseUnseen, undefined, () => stopping, report);
  return {
    durable,
    async stop() {
      stopping = true;
      await loop;
    },
  };
}

function parseUnseen(msg: JsMsg): StoredUnseenEvent | undefined {
  try {
    const parsed = v.safeParse(UnseenEvent, JSON.parse(decoder.decode(msg.data)));
    return parsed.success ? { ...parsed.output, seq: msg.seq } : undefined;
  } catch {
    return undefined;
  }
}
