import { Command } from "commander";
import * as v from "valibot";
import { HeraldBackend } from "../../backend/index.js";
import { type OptionValues, option } from "../../options/option-spec.js";
import { CloseCode } from "../../protocol/index.js";
import { asCliError } from "../backend-connection.js";
import { SafeNameArgument, TimeoutMs } from "../cli-schemas.js";
import { addOptions } from "../command-line.js";
import { BACKEND_OPTIONS, backendConnection, readBackendCommandLine } from "../nats-options.js";

/** The options of `herald disconnect`, checked before anything connects. */
const DISCONNECT_OPTIONS = {
  ...BACKEND_OPTIONS,
  reconnect: option({
    schema: v.boolean(),
    default: false,
    switch: true,
    env: false,
    description: "let the clients reconnect at once with a fresh token (default: they stop)",
  }),
  reason: option({
    schema: v.optional(v.pipe(v.string(), v.maxLength(1024, "must be at most 1024 characters"))),
    default: undefined,
    env: false,
    placeholder: "text",
    description: "told to the user's clients, quoted and cut to 64 characters",
  }),
  timeout: option({
    schema: TimeoutMs,
    default: 5000,
    env: false,
    placeholder: "ms",
    description: "ms to wait for NATS to take the message",
  }),
};
type DisconnectInput = OptionValues<typeof DISCONNECT_OPTIONS> & { user: string };

/** `herald disconnect <userId>`: closes every connection of a user, on every gateway. */
export function disconnectCommand(): Command {
  const command = new Command("disconnect")
    .description("Close every connection of a user, on every gateway (sign out everywhere)")
    .argument("<userId>", "user id");
  addOptions(command, DISCONNECT_OPTIONS);
  return command.action(async (user: string, _options: unknown, self: Command) => {
    await disconnect(
      readBackendCommandLine(self, DISCONNECT_OPTIONS, {
        arguments: { user: { value: user, schema: SafeNameArgument, label: "user id" } },
      }),
    );
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
