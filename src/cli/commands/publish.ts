import { Command, Option } from "commander";
import * as v from "valibot";
import { HeraldBackend, isHeraldBackendError, NoStreamError } from "../../backend/index.js";
import { CliError, ExitCode } from "../cli-error.js";
import { SafeNameArgument, TimeoutMsFlag } from "../cli-schemas.js";
import {
  backendConnection,
  type NatsFlags,
  NatsInputEntries,
  natsServers,
  withNatsOptions,
} from "../nats-options.js";

/** The command line of `herald publish`, checked before anything connects. */
const PublishInput = v.object({
  target: SafeNameArgument,
  message: v.string(),
  ...NatsInputEntries,
  channel: v.boolean(),
  ack: v.boolean(),
  msgId: v.optional(
    v.pipe(v.string(), v.regex(/^[^\r\n]{1,256}$/, "must be 1 to 256 characters, no line breaks")),
  ),
  timeout: TimeoutMsFlag,
});
type PublishInput = v.InferOutput<typeof PublishInput>;

interface PublishFlags extends NatsFlags {
  channel?: boolean;
  ack: boolean;
  msgId?: string;
  timeout: string;
}

/** `herald publish <userId> <message>`: one message to a user (or, with --channel, a shared channel). */
export function publishCommand(): Command {
  return withNatsOptions(
    new Command("publish")
      .description("Publish a message to a user's channel (or a shared channel with --channel)")
      .argument("<userId>", "user id (with --channel: shared channel name)")
      .argument("<message>", 'message text, sent as given: {"a":1} arrives as JSON, hello! as a string'),
  )
    .option("--channel", "treat the first argument as a shared channel name")
    .option(
      "--no-ack",
      "fire and forget: no acknowledgement, no retry; the message is lost silently if no stream " +
        "stores it at that moment (needed for gateways run with --history false)",
    )
    .addOption(new Option("--stored", "the default; kept for old scripts").hideHelp())
    .option("--msg-id <id>", "idempotency key: a message published again with the same id is stored once")
    .addOption(
      new Option(
        "--timeout <ms>",
        "ms to wait for NATS and for the stream's acknowledgement, retries through a failover included",
      ).default("15000"),
    )
    .action(async (target: string, message: string, flags: PublishFlags) => {
      const input = parseInput({
        target,
        message,
        ...flags,
        nats: natsServers(flags),
        channel: !!flags.channel,
      });
      if (!input.ack && input.msgId !== undefined) {
        throw new CliError("--msg-id needs an acknowledged publish: drop --no-ack", ExitCode.Usage);
      }
      await publish(input);
    });
}

function parseInput(raw: Record<string, unknown>): PublishInput {
  const parsed = v.safeParse(PublishInput, raw);
  if (parsed.success) return parsed.output;
  const lines = parsed.issues.map((issue) => {
    const key = String(issue.path?.[0]?.key ?? "");
    const label =
      key === "target"
        ? raw.channel
          ? "channel name"
          : "user id"
        : key === "message"
          ? "message"
          : `--${kebab(key)}`;
    const value = issue.path?.[0]?.value;
    const shown =
      typeof value === "string" && key !== "natsPassword" && key !== "natsToken"
        ? ` ${JSON.stringify(value)}`
        : "";
    return `invalid ${label}${shown}: ${issue.message}`;
  });
  throw new CliError(lines.join("\n"), ExitCode.Usage);
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

async function publish(input: PublishInput): Promise<void> {
  const backend = await HeraldBackend.connect(backendConnection(input, input.timeout)).catch(asCliError);
  try {
    // Sent as the bytes typed: the gateway delivers valid JSON as JSON and anything else as a string.
    const payload = new TextEncoder().encode(input.message);
    const target = input.channel ? { channel: input.target } : { user: input.target };
    if (input.ack) {
      const stored = await backend
        .publishStored(target, payload, {
          timeout: input.timeout,
          ...(input.msgId !== undefined ? { msgId: input.msgId } : {}),
        })
        .catch(asCliError);
      process.stdout.write(`published to ${stored.subject}\n`);
      process.stdout.write(
        stored.duplicate
          ? `already stored as seq ${stored.seq} in stream ${stored.stream} (duplicate --msg-id)\n`
          : `stored as seq ${stored.seq} in stream ${stored.stream}\n`,
      );
    } else {
      const sent = await backend.publish(target, payload, { ack: false }).catch(asCliError);
      // The server has the message once the flush's round trip returns; whether anything stored or
      // delivered it, nobody says.
      await withTimeout(
        backend.flush(),
        input.timeout,
        `NATS did not confirm the publish within ${input.timeout} ms`,
      );
      process.stdout.write(`published to ${sent.subject} (not acknowledged)\n`);
    }
  } finally {
    await withTimeout(backend.close(), input.timeout, "closing the NATS connection timed out").catch(
      () => undefined,
    );
  }
}

function asCliError(error: unknown): never {
  if (error instanceof NoStreamError) {
    const detail = error.detail ? ` (${error.detail})` : "";
    throw new CliError(
      `no JetStream stream captures ${error.subject}${detail}: gateways with history on create it; ` +
        "for gateways run with --history false, publish with --no-ack",
      ExitCode.Failure,
      { cause: error },
    );
  }
  if (isHeraldBackendError(error)) {
    throw new CliError(error.message, error.code === "UNSAFE_NAME" ? ExitCode.Usage : ExitCode.Failure, {
      cause: error,
    });
  }
  throw error;
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CliError(message, ExitCode.Failure)), ms);
  });
  return Promise.race([promise.catch(asCliError), timeout]).finally(() => clearTimeout(timer));
}
