import { Command } from "commander";
import * as v from "valibot";
import { option } from "../../options/option-spec.js";
import { asCliError, connectBackend } from "../backend-connection.js";
import { CliError, ExitCode } from "../cli-error.js";
import { addOptions } from "../command-line.js";
import { BACKEND_OPTIONS, readBackendCommandLine } from "../nats-options.js";

/** The options of `herald online`. */
const ONLINE_OPTIONS = {
  channel: option({
    schema: v.optional(v.string()),
    default: undefined,
    env: false,
    placeholder: "name",
    description: "list the members of this shared channel instead",
  }),
  ...BACKEND_OPTIONS,
};

/**
 * `herald online <user...>`: which users are online, with their connections, asked of the gateways
 * (`--presence true`); `--channel <name>` lists a shared channel's members instead.
 */
export function onlineCommand(): Command {
  const command = new Command("online")
    .description("Who is online (gateways with --presence true), or who is in a shared channel")
    .argument("[users...]", "user ids");
  addOptions(command, ONLINE_OPTIONS);
  return command.action(async (users: string[], _options: unknown, self: Command) => {
    const input = readBackendCommandLine(self, ONLINE_OPTIONS);
    if (input.channel === undefined && users.length === 0)
      throw new CliError("name at least one user, or --channel <name>", ExitCode.Usage);
    const backend = await connectBackend(input, "herald-cli");
    try {
      if (input.channel !== undefined) {
        const members = await backend.presence(input.channel).catch(asCliError);
        for (const member of members.members) {
          const info = member.info === undefined ? "" : ` ${JSON.stringify(member.info)}`;
          process.stdout.write(`${member.user} ${member.connections}${info}\n`);
        }
        process.stdout.write(`${members.count} member(s)${members.truncated ? ", not all listed" : ""}\n`);
        return;
      }
      const online = await backend.online(users).catch(asCliError);
      for (const user of users) process.stdout.write(`${user} ${online[user] ?? "offline"}\n`);
    } finally {
      await backend.close().catch(() => undefined);
    }
  });
}
