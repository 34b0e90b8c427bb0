import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { Command, InvalidArgumentError, Option } from "commander";
import * as v from "valibot";
import type { HeraldBackend } from "../../backend/index.js";
import { isJetStreamError, JetStreamErrorCode } from "../../nats/jetstream-errors.js";
import {
  ConnectionEvent,
  EVENT_KINDS,
  type EventKind,
  eventSubjects,
  UnseenEvent,
} from "../../protocol/index.js";
import { asCliError, connectBackend } from "../backend-connection.js";
import { CliError, ExitCode } from "../cli-error.js";
import { type NatsFlags, withNatsOptions } from "../nats-options.js";

interface EventsFlags extends NatsFlags {
  durable?: string;
  kind?: EventKind[];
  all?: boolean;
  stream: string;
  count?: number;
}

/**
 * `herald events`: prints the gateways' connection events (`--events true`) as JSON lines, as they
 * are stored. By default it tails the stream from now with a consumer of its own that leaves
 * nothing behind; `--all` starts from the oldest event kept; `--durable <name>` reads (and
 * acknowledges) with a backend's durable consumer, going on where that name stopped.
 */
export function eventsCommand(): Command {
  return withNatsOptions(
    new Command("events")
      .description("Print connection events as JSON lines as gateways store them (Ctrl-C stops)")
      .option("--durable <name>", "read with this durable consumer (acknowledging), as a backend would")
      .option("--kind <kinds>", `only these kinds, comma-separated (${EVENT_KINDS.join(", ")})`, kinds)
      .option("--all", "start from the oldest event kept, not from now (without --durable)")
      .addOption(new Option("--stream <name>", "the events stream").default("HERALD_EVENTS"))
      .option("--count <n>", "exit after this many events", count),
  ).action(async (flags: EventsFlags) => {
    if (flags.durable !== undefined && flags.all)
      throw new CliError("--all is for a tail without --durable", ExitCode.Usage);
    const backend = await connectBackend(flags, "herald-cli-events");
    let printed = 0;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    const print = (event: object) => {
      process.stdout.write(`${JSON.stringify(event)}\n`);
      if (flags.count !== undefined && ++printed >= flags.count) done();
    };
    process.once("SIGINT", () => done());
    process.once("SIGTERM", () => done());
    try {
      if (flags.durable !== undefined) {
        const subscription = await backend
          .onEvent((event) => print(event), {
            durable: flags.durable,
            stream: flags.stream,
            ...(flags.kind ? { kinds: flags.kind } : {}),
            onError: (error) => process.stderr.write(`herald: ${error.message}\n`),
          })
          .catch(asCliError);
        await finished;
        await subscription.stop();
      } else {
        await tail(backend, flags, print, finished);
      }
    } finally {
      await backend.close().catch(() => undefined);
    }
  });
}

/** An ordered consumer from now (or the oldest event): no acknowledgements, nothing left behind. */
async function tail(
  backend: HeraldBackend,
  flags: EventsFlags,
  print: (event: object) => void,
  finished: Promise<void>,
): Promise<void> {
  const subjects = eventSubjects(backend.prefix);
  const kinds = flags.kind ? new Set<string>(flags.kind) : undefined;
  const consumer = await jetstream(backend.connection)
    .consumers.get(flags.stream, {
      filter_subjects: flags.kind?.length === 1 ? subjects.kind(flags.kind[0] as EventKind) : subjects.all,
      deliver_policy: flags.all ? DeliverPolicy.All : DeliverPolicy.New,
    })
    .catch((error: Error) => {
      throw new CliError(
        isJetStreamError(error, JetStreamErrorCode.StreamNotFound)
          ? `no events stream ${flags.stream}: gateways create it when run with --events true`
          : `cannot read ${flags.stream}: ${error.message}`,
        ExitCode.Failure,
      );
    });
  const messages = await consumer.consume({
    callback: (msg) => {
      const json = safeJson(msg.data);
      const parsed = v.safeParse(ConnectionEvent, json);
      // The inbox's unseen events share the stream; shown when no kind is asked for.
      const unseen = parsed.success ? undefined : v.safeParse(UnseenEvent, json);
      if (unseen?.success) return void (kinds ? undefined : print({ ...unseen.output, seq: msg.seq }));
      if (!parsed.success)
        return void process.stderr.write(`herald: event at ${msg.seq} is not valid; skipped\n`);
      if (!kinds || kinds.has(parsed.output.kind)) print({ ...parsed.output, seq: msg.seq });
    },
  });
  await finished;
  await messages.close();
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}

function kinds(value: string): EventKind[] {
  const list = value.split(",").map((s) => s.trim());
  for (const kind of list)
    if (!(EVENT_KINDS as readonly string[]).includes(kind))
      throw new InvalidArgumentError(
        `unknown kind "${kind.slice(0, 32)}"; kinds are ${EVENT_KINDS.join(", ")}`,
      );
  return list as EventKind[];
}

function count(value: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError("must be a whole number from 1");
  return Number(value);
}
