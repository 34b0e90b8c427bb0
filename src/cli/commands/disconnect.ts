import { Command, Option } from "commander";
import * as v from "valibot";
import { HeraldBackend, isHeraldBackendError } from "../../backend/index.js";
import { CloseCode } from "../../protocol/index.js";
import { CliError, ExitCode } from "../cli-error.js";
import { SafeNameArgument, TimeoutMsFlag } from "../cli-schemas.js";
import {
  backendConnection,
  type NatsFlags,
  NatsInputEntries,
  natsServers,
  withNatsOptions,
} from "../nats-options.js";

/** The command line of `herald disconnect`, checked before anything connects. */
const DisconnectInput = v.object({
  user: SafeNameArgument,
  reconnect: v.boolean(),
  reason: v.optional(v.pipe(v.string(), v.maxLength(1024, "must be at most 1024 characters"))),
  ...NatsInputEntries,
  timeout: TimeoutMsFlag,
});
type DisconnectInput = v.InferOutput<typeof DisconnectInput>;

interface DisconnectFlags extends NatsFlags {
  reconnect?: boolean;
  reason?: string;
  timeout: string;
}

/** `herald disconnect <userId>`: closes every connection of a user, on every gateway. */
export function disconnectCommand(): Command {
  return withNatsOptions(
    new Command("disconnect")
      .description("Close every connection of a user, on every gateway (sign out everywhere)")
      .argument("<userId>", "user id"),
  )
    .option("--reconnect", "let the clients reconnect at once with a fresh token (default: they stop)")
    .option("--reason <text>", "told to the user's clients, quoted and cut to 64 characters")
    .addOption(new Option("--timeout <ms>", "ms to wait for NATS to take the message").default("5000"))
    .action(async (user: string, flags: DisconnectFlags) => {
      const parsed = v.safeParse(DisconnectInput, {
        ...flags,
        user,
        reconnect: !!flags.reconnect,
        nats: natsServers(flags),
      });
      if (!parsed.success) {
        const lines = parsed.issues.map((issue) => {
          const key = String(issue.path?.[0]?.key ?? "");
          const value = issue.path?.[0]?.value;
          const shown = typeof value === "string" && key !== "natsPassword" && key !== "natsToken";
          return `invalid ${key === "user" ? "user id" : `--${kebab(key)}`}${shown ? ` ${JSON.stringify(value)}` : ""}: ${issue.message}`;
        });
        throw new CliError(lines.join("\n"), ExitCode.Usage);
      }
      await disconnect(parsed.output);
    });
}

async function disconnect(input: DisconnectInput): Promise<void> {
  const backend = await HeraldBackend.connect(backendConnection(input, input.timeout)).catch(asCliError);
  try {
    await backend
      .disconnect(input.user, {
        reconnect: input.reconnect,
        timeout: input.timeout,
        ...(input.reason !== undefined ? { reason: input.reason } : {}),
      })
      .catch(asCliError);
    const how = input.reconnect
      ? `RECONNECT_REQUESTED, ${CloseCode.ReconnectRequested}: they reconnect`
      : `DISCONNECTED, ${CloseCode.Disconnected}: they stop`;
    process.stdout.write(
      `sent to ${backend.subjects.control("disconnect")}: every gateway connected to NATS closes the connections of ${input.user} (${how})\n`,
    );
  } finally {
    await backend.close().catch(() => undefined);
  }
}

function asCliError(error: unknown): never {
  if (isHeraldBackendError(error)) {
    throw new CliError(error.message, error.code === "UNSAFE_NAME" ? ExitCode.Usage : ExitCode.Failure, {
      cause: error,
    });
  }
  throw error;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
