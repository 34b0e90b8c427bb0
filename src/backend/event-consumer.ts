import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import * as v from "valibot";
import { isJetStreamError, JetStreamErrorCode } from "../nats/jetstream-errors.js";
import {
  ConnectionEvent,
  EVENT_KINDS,
  type EventKind,
  eventSubjects,
  formatIssues,
} from "../protocol/index.js";
import { HeraldBackendError, NotConnectedError } from "./errors.js";

/** A connection event as a handler gets it: with its stream sequence, which only grows. */
export type StoredConnectionEvent = ConnectionEvent & { readonly seq: number };

export type EventHandler = (event: StoredConnectionEvent) => void | Promise<void>;

export interface EventConsumerOptions {
  /**
   * The durable consumer's name (1-64 of A-Z a-z 0-9 _ -): the stream remembers how far it got,
   * so a backend that restarts with the same name goes on where it stopped. One name per backend
   * service; its instances share it (each event reaches one of them).
   */
  durable: string;
  /** Only these kinds (one kind is filtered by the server, several here). Default: every kind. */
  kinds?: readonly EventKind[];
  /** Where a new durable consumer starts: every stored event (`all`, default) or new ones only. */
  start?: "all" | "new";
  /** The events stream (the gateways' `--events-stream`). Default HERALD_EVENTS. */
  stream?: string;
  /** ms a handler may take before its event is delivered again. Default 30 000. */
  ackWait?: number;
  /** Told about each handler failure (the event is delivered again after a second) and bad event. */
  onError?: (error: HeraldBackendError) => void;
}

export interface EventSubscription {
  readonly durable: string;
  /** Stops after the event being handled (if any) is acknowledged; resolves once stopped. */
  stop(): Promise<void>;
}

const Options = v.object({
  durable: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ -")),
  kinds: v.optional(v.array(v.picklist(EVENT_KINDS))),
  start: v.optional(v.picklist(["all", "new"]), "all"),
  stream: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/)), "HERALD_EVENTS"),
  ackWait: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1000), v.maxValue(3_600_000)), 30_000),
});

/** A pull waits this long for an event before asking again (and before `stop` takes effect). */
const PULL_EXPIRES_MS = 1000;
const RETRY_DELAY_MS = 1000;
const decoder = new TextDecoder();

/** Where a backend reads events from, and where it reports a handler's failures. */
export interface EventSource {
  readonly nc: NatsConnection;
  /** The gateways' subject prefix: events are `<prefix>.events.<kind>`. */
  readonly prefix: string;
  readonly report: (error: HeraldBackendError) => void;
}

/**
 * Reads the events stream with a durable consumer, one event at a time: the next is delivered
 * only once the handler has finished with the last and its acknowledgement is confirmed by the
 * server (`max_ack_pending` 1). So events arrive in stream order, and a backend that stops (or
 * crashes) and starts again receives every event after the last one acknowledged; an event whose
 * handler failed, threw or outlived `ackWait` is delivered again, before any later one.
 */
export async function consumeEvents(
  { nc, prefix, report }: EventSource,
  handler: EventHandler,
  options: EventConsumerOptions,
): Promise<EventSubscription> {
  const parsed = v.safeParse(Options, options);
  if (!parsed.success)
    throw new HeraldBackendError(
      "INVALID_OPTIONS",
      `invalid onEvent options: ${formatIssues(parsed.issues)}`,
    );
  const { durable, kinds, start, stream, ackWait } = parsed.output;
  if (nc.isClosed()) throw new NotConnectedError("the NATS connection is closed");
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  await ensureDurable(jsm, stream, durable, {
    filter:
      kinds?.length === 1 ? eventSubjects(prefix).kind(kinds[0] as EventKind) : eventSubjects(prefix).all,
    start,
    ackWait,
  });
  const consumer = await jetstream(nc).consumers.get(stream, durable);
  const wanted = kinds && kinds.length > 1 ? new Set<string>(kinds) : undefined;
  let stopping = false;
  const parse = (msg: JsMsg) => parseEvent(msg, prefix);
  const loop = run(consumer, handler, parse, wanted, () => stopping, report);
  return {
    durable,
    async stop() {
      stopping = true;
      await loop;
    },
  };
}

export async function ensureDurable(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  { filter, start, ackWait }: { filter: string; start: "all" | "new"; ackWait: number },
): Promise<void> {
  try {
    const info = await jsm.consumers.info(stream, durable);
    if (info.config.filter_subject !== filter || info.config.ack_wait !== ackWait * 1_000_000)
      await jsm.consumers.update(stream, durable, { filter_subject: filter, ack_wait: ackWait * 1_000_000 });
    return;
  } catch (error) {
    if (!isJetStreamError(error, JetStreamErrorCode.ConsumerNotFound)) {
      if (isJetStreamError(error, JetStreamErrorCode.StreamNotFound))
        throw new HeraldBackendError(
          "NO_STREAM",
          `no events stream ${stream}: gateways create it when run with --events true`,
          { cause: error },
        );
      throw error;
    }
  }
  await jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    max_ack_pending: 1,
    ack_wait: ackWait * 1_000_000,
    deliver_policy: start === "new" ? DeliverPolicy.New : DeliverPolicy.All,
    filter_subject: filter,
  });
}

/** An event of another reader (the inbox's `unseen` events, read with `onUnseen`): acknowledged, not handled. */
export const NOT_MINE = Symbol("not mine");

/** Parses one stored event: undefined when it is not valid. */
export type EventParser<E> = (msg: JsMsg) => E | undefined | typeof NOT_MINE;

export async function run<E extends { readonly id: string; readonly kind: string }>(
  consumer: Consumer,
  handler: (event: E) => void | Promise<void>,
  parse: EventParser<E>,
  wanted: ReadonlySet<string> | undefined,
  stopping: () => boolean,
  report: (error: HeraldBackendError) => void,
): Promise<void> {
  while (!stopping()) {
    let batch: Awaited<ReturnType<Consumer["fetch"]>>;
    try {
      batch = await consumer.fetch({ max_messages: 1, expires: PULL_EXPIRES_MS });
    } catch (error) {
      report(
        new HeraldBackendError("SUBSCRIPTION_FAILED", `events pull failed: ${(error as Error).message}`),
      );
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
      continue;
    }
    for await (const msg of batch) {
      // Arrived after stop(): handed back at once for the next run to take.
      if (stopping()) msg.nak();
      else await handle(msg, handler, parse, wanted, report);
    }
  }
}

async function handle<E extends { readonly id: string; readonly kind: string }>(
  msg: JsMsg,
  handler: (event: E) => void | Promise<void>,
  parse: EventParser<E>,
  wanted: ReadonlySet<string> | undefined,
  report: (error: HeraldBackendError) => void,
): Promise<void> {
  const event = parse(msg);
  if (event === NOT_MINE) {
    msg.ack();
    return;
  }
  if (!event) {
    report(
      new HeraldBackendError("INVALID_REQUEST", `event at stream sequence ${msg.seq} is not valid; skipped`),
    );
    msg.term("invalid event");
    return;
  }
  if (!wanted || wanted.has(event.kind)) {
    try {
      await handler(event);
    } catch (error) {
      report(
        new HeraldBackendError(
          "HANDLER_FAILED",
          `event handler failed for ${event.id}: ${(error as Error).message}`,
          {
            cause: error,
          },
        ),
      );
      msg.nak(RETRY_DELAY_MS);
      return;
    }
  }
  try {
    await msg.ackAck();
  } catch (error) {
    // Not confirmed: the server delivers it again after ackWait (handle `seq` once to be safe).
    report(
      new HeraldBackendError(
        "REPLY_FAILED",
        `event ${event.id} not acknowledged: ${(error as Error).message}`,
      ),
    );
  }
}

function parseEvent(msg: JsMsg, prefix: string): StoredConnectionEvent | undefined | typeof NOT_MINE {
  if (msg.subject.startsWith(`${prefix}.events.unseen.`)) return NOT_MINE;
  try {
    const parsed = v.safeParse(ConnectionEvent, JSON.parse(decoder.decode(msg.data)));
    return parsed.success ? { ...parsed.output, seq: msg.seq } : undefined;
  } catch {
    return undefined;
  }
}
