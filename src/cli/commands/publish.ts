import { Command } from "commander";
import * as v from "valibot";
import { HeraldBackend, isHeraldBackendError, NoStreamError } from "../../backend/index.js";
import { type OptionValues, option } from "../../options/option-spec.js";
import { CliError, ExitCode } from "../cli-error.js";
import { SafeNameArgument, TimeoutMs } from "../cli-schemas.js";
import { addOptions } from "../command-line.js";
import { BACKEND_OPTIONS, backendConnection, readBackendCommandLine } from "../nats-options.js";

/** The options of `herald publish`, checked before anything connects. */
const PUBLISH_OPTIONS = {
  ...BACKEND_OPTIONS,
  channel: option({
    schema: v.boolean(),
    default: false,
    switch: true,
    env: false,
    description: "treat the first argument as a shared channel name",
  }),
  ack: option({
    schema: v.boolean(),
    default: true,
    switch: true,
    env: false,
    description:
      "fire and forget: no acknowledgement, no retry; the message is lost silently if no stream " +
      "stores it at that moment (needed for gateways run with --history false)",
  }),
  stored: option({
    schema: v.boolean(),
    default: false,
    switch: true,
    env: false,
    hidden: true,
    description: "the default; kept for old scripts",
  }),
  msgId: option({
    schema: v.optional(
      v.pipe(v.string(), v.regex(/^[^\r\n]{1,256}$/, "must be 1 to 256 characters, no line breaks")),
    ),
    default: undefined,
    env: false,
    placeholder: "id",
    description: "idempotency key: a message published again with the same id is stored once",
  }),
  timeout: option({
    schema: TimeoutMs,
    default: 15_000,
    env: false,
    placeholder: "ms",
    description:
      "ms to wait for NATS and for the stream's acknowledgement, retries through a failover included",
  }),
};

/** `herald publish <userId> <message>`: one message to a user (or, with --channel, a shared channel). */
export function publishCommand(): Command {
  const command = new Command("publish")
    .description("Publish a message to a user's channel (or a shared channel with --channel)")
    .argument("<userId>", "user id (with --channel: shared channel name)")
    .argument("<message>", 'message text, sent as given: {"a":1} arrives as JSON, hello! as a string');
  addOptions(command, PUBLISH_OPTIONS);
  return command.action(async (target: string, message: string, _options: unknown, self: Command) => {
    const input = readBackendCommandLine(self, PUBLISH_OPTIONS, {
      arguments: {
        target: {
          value: target,
          schema: SafeNameArgument,
          label: self.opts().channel ? "channel name" : "user id",
        },
      },
      checks: [
        (options, defs) =>
          !options.ack && options.msgId !== undefined
            ? `${defs.msgId.flag} needs an acknowledged publish: drop ${defs.ack.flag}`
            : undefined,
      ],
    });
    await publish({ ...input, message });
  });
}

type PublishInput = OptionValues<typeof PUBLISH_OPTIONS> & { target: string; message: string };

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
