import { Command } from "commander";
import * as v from "valibot";
import { HeraldBackend, NoStreamError } from "../../backend/index.js";
import { option } from "../../options/option-spec.js";
import { asCliError } from "../backend-connection.js";
import { CliError, ExitCode } from "../cli-error.js";
import { SafeNameArgument, TimeoutMs } from "../cli-schemas.js";
import { addOptions } from "../command-line.js";
import { BACKEND_OPTIONS, backendConnection, readBackendCommandLine } from "../nats-options.js";

/** The options of `herald notify`, checked before anything connects. */
const NOTIFY_OPTIONS = {
  ...BACKEND_OPTIONS,
  id: option({
    schema: v.optional(
      v.pipe(v.string(), v.regex(/^[^\r\n]{1,256}$/, "must be 1 to 256 characters, no line breaks")),
    ),
    default: undefined,
    env: false,
    placeholder: "key",
    description: "idempotency key: a notification sent again with the same key is stored once",
  }),
  timeout: option({
    schema: TimeoutMs,
    default: 15_000,
    env: false,
    placeholder: "ms",
    description: "ms to wait for NATS and for the stream's acknowledgement, retries included",
  }),
};

/** `herald notify <userId> <message>`: one notification in a user's inbox (gateways with --inbox true). */
export function notifyCommand(): Command {
  const command = new Command("notify")
    .description("Store a notification in a user's inbox (gateways with --inbox true)")
    .argument("<userId>", "user id")
    .argument("<message>", 'notification text, sent as given: {"a":1} arrives as JSON, hello! as a string');
  addOptions(command, NOTIFY_OPTIONS);
  return command.action(async (user: string, message: string, _options: unknown, self: Command) => {
    const input = readBackendCommandLine(self, NOTIFY_OPTIONS, {
      arguments: { user: { value: user, schema: SafeNameArgument, label: "user id" } },
    });
    const backend = await HeraldBackend.connect(backendConnection(input, input.timeout)).catch(asCliError);
    try {
      // Sent as the bytes typed: the gateway delivers valid JSON as JSON and anything else as a string.
      const payload = new TextEncoder().encode(message);
      const options = { timeout: input.timeout, ...(input.id !== undefined ? { id: input.id } : {}) };
      const notified = await backend.notify(input.user, payload, options).catch((error: unknown) => {
        if (error instanceof NoStreamError)
          throw new CliError(
            `no inbox stream captures ${error.subject}: run the gateways with --inbox true`,
            ExitCode.Failure,
            { cause: error },
          );
        return asCliError(error);
      });
      process.stdout.write(
        notified.duplicate
          ? `already stored as notification ${notified.id} (duplicate --id)\n`
          : `stored as notification ${notified.id}\n`,
      );
    } finally {
      await backend.close().catch(() => undefined);
    }
  });
}
