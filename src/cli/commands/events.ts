import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { Command } from "commander";
import * as v from "valibot";
import type { HeraldBackend } from "../../backend/index.js";
import { TRACKING_OPTIONS } from "../../gateway/tracking/tracking-options.js";
import { isJetStreamError, JetStreamErrorCode } from "../../nats/jetstream-errors.js";
import { type OptionValues, option } from "../../options/option-spec.js";
import { int } from "../../options/schemas.js";
import {
  ConnectionEvent,
  EVENT_KINDS,
  type EventKind,
  eventSubjects,
  quote,
  UnseenEvent,
} from "../../protocol/index.js";
import { asCliError, connectBackend } from "../backend-connection.js";
import { CliError, ExitCode } from "../cli-error.js";
import { addOptions } from "../command-line.js";
import { BACKEND_OPTIONS, readBackendCommandLine } from "../nats-options.js";

/** The options of `herald events`. */
const EVENTS_OPTIONS = {
  durable: option({
    schema: v.optional(v.string()),
    default: undefined,
    env: false,
    placeholder: "name",
    description: "read with this durable consumer (acknowledging), as a backend would",
  }),
  kind: option({
    schema: v.optional(
      v.pipe(
        v.array(
          v.picklist(
            EVENT_KINDS,
            (issue) => `unknown kind ${quote(issue.input, 32)}; kinds are ${EVENT_KINDS.join(", ")}`,
          ),
        ),
        v.minLength(1, "needs at least one kind"),
      ),
    ),
    default: undefined,
    env: false,
    placeholder: "kinds",
    description: `only these kinds, comma-separated (${EVENT_KINDS.join(", ")})`,
  }),
  all: option({
    schema: v.boolean(),
    default: false,
    switch: true,
    env: false,
    description: "start from the oldest event kept, not from now (without --durable)",
  }),
  // The gateway's events stream, by default the one it writes.
  stream: option({
    ...TRACKING_OPTIONS.eventsStream,
    env: false,
    placeholder: "name",
    description: "the events stream",
  }),
  count: option({
    schema: v.optional(int(1, 999_999_999)),
    default: undefined,
    env: false,
    placeholder: "n",
    description: "exit after this many events",
  }),
  ...BACKEND_OPTIONS,
};
type EventsInput = OptionValues<typeof EVENTS_OPTIONS>;

/**
 * `herald events`: prints the gateways' connection events (`--events true`) as JSON lines, as they
 * are stored. By default it tails the stream from now with a consumer of its own that leaves
 * nothing behind; `--all` starts from the oldest event kept; `--durable <name>` reads (and
 * acknowledges) with a backend's durable consumer, going on where that name stopped.
 */
export function eventsCommand(): Command {
  const command = new Command("events").description(
    "Print connection events as JSON lines as gateways store them (Ctrl-C stops)",
  );
  addOptions(command, EVENTS_OPTIONS);
  return command.action(async (_options: unknown, self: Command) => {
    const input = readBackendCommandLine(self, EVENTS_OPTIONS, {
      checks: [
        (options, defs) =>
          options.durable !== undefined && options.all
            ? `${defs.all.flag} is for a tail without ${defs.durable.flag}`
            : undefined,
      ],
    });
    const backend = await connectBackend(input, "herald-cli-events");
    let printed = 0;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    const print = (event: object) => {
      process.stdout.write(`${JSON.stringify(event)}\n`);
      if (input.count !== undefined && ++printed >= input.count) done();
    };
    process.once("SIGINT", () => done());
    process.once("SIGTERM", () => done());
    try {
      if (input.durable !== undefined) {
        const subscription = await backend
          .onEvent((event) => print(event), {
            durable: input.durable,
            stream: input.stream,
            ...(input.kind ? { kinds: input.kind } : {}),
            onError: (error) => process.stderr.write(`herald: ${error.message}\n`),
          })
          .catch(asCliError);
        await finished;
        await subscription.stop();
      } else {
        await tail(backend, input, print, finished);
      }
    } finally {
      await backend.close().catch(() => undefined);
    }
  });
}

/** An ordered consumer from now (or the oldest event): no acknowledgements, nothing left behind. */
async function tail(
  backend: HeraldBackend,
  input: EventsInput,
  print: (event: object) => void,
  finished: Promise<void>,
): Promise<void> {
  const subjects = eventSubjects(backend.prefix);
  const kinds = input.kind ? new Set<string>(input.kind) : undefined;
  const consumer = await jetstream(backend.connection)
    .consumers.get(input.stream, {
      filter_subjects: input.kind?.length === 1 ? subjects.kind(input.kind[0] as EventKind) : subjects.all,
      deliver_policy: input.all ? DeliverPolicy.All : DeliverPolicy.New,
    })
    .catch((error: Error) => {
      throw new CliError(
        isJetStreamError(error, JetStreamErrorCode.StreamNotFound)
          ? `no events stream ${input.stream}: gateways create it when run with --events true`
          : `cannot read ${input.stream}: ${error.message}`,
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
