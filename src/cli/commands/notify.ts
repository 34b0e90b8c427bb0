import { Command, Option } from "commander";
import * as v from "valibot";
import { HeraldBackend, NoStreamError } from "../../backend/index.js";
import { asCliError } from "../backend-connection.js";
import { CliError, ExitCode } from "../cli-error.js";
import { SafeNameArgument, TimeoutMsFlag } from "../cli-schemas.js";
import {
  backendConnection,
  type NatsFlags,
  NatsInputEntries,
  natsServers,
  withNatsOptions,
} from "../nats-options.js";

/** The command line of `herald notify`, checked before anything connects. */
const NotifyInput = v.object({
  user: SafeNameArgument,
  message: v.string(),
  ...NatsInputEntries,
  id: v.optional(
    v.pipe(v.string(), v.regex(/^[^\r\n]{1,256}$/, "must be 1 to 256 characters, no line breaks")),
  ),
  timeout: TimeoutMsFlag,
});

interface NotifyFlags extends NatsFlags {
  id?: string;
  timeout: string;
}

/** `herald notify <userId> <message>`: one notification in a user's inbox (gateways with --inbox true). */
export function notifyCommand(): Command {
  return withNatsOptions(
    new Command("notify")
      .description("Store a notification in a user's inbox (gateways with --inbox true)")
      .argument("<userId>", "user id")
      .argument("<message>", 'notification text, sent as given: {"a":1} arrives as JSON, hello! as a string'),
  )
    .option("--id <key>", "idempotency key: a notification sent again with the same key is stored once")
    .addOption(
      new Option("--timeout <ms>", "ms to wait for NATS and for the stream's acknowledgement").default(
        "15000",
      ),
    )
    .action(async (user: string, message: string, flags: NotifyFlags) => {
      const parsed = v.safeParse(NotifyInput, { user, message, ...flags, nats: natsServers(flags) });
      if (!parsed.success) {
        const issue = parsed.issues[0];
        const key = String(issue?.path?.[0]?.key ?? "");
        const label = key === "user" ? "user id" : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
        throw new CliError(`invalid ${label}: ${issue?.message}`, ExitCode.Usage);
      }
      const input = parsed.output;
      const backend = await HeraldBackend.connect(backendConnection(input, input.timeout)).catch(asCliError);
      try {
        // Sent as the bytes typed: the gateway delivers valid JSON as JSON and anything else as a string.
        const payload = new TextEncoder().encode(input.message);
        const options = { timeout: input.timeout, ...(input.id !== undefined ? { id: input.id } : {}) };
        const notified = await backend.notify(input.user, payload, options).catch((error: unknown) => {
          if (error instanceof NoStreamError)
            throw new CliError(
              `no inbox stream captures ${backend.prefix}.notify.${input.user}: run the gateways with --inbox true`,
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
