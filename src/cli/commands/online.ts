import { Command } from "commander";
import { asCliError, connectBackend } from "../backend-connection.js";
import { CliError, ExitCode } from "../cli-error.js";
import { type NatsFlags, withNatsOptions } from "../nats-options.js";

interface OnlineFlags extends NatsFlags {
  channel?: string;
}

/**
 * `herald online <user...>`: which users are online, with their connections, asked of the gateways
 * (`--presence true`); `--channel <name>` lists a shared channel's members instead.
 */
export function onlineCommand(): Command {
  return withNatsOptions(
    new Command("online")
      .description("Who is online (gateways with --presence true), or who is in a shared channel")
      .argument("[users...]", "user ids")
      .option("--channel <name>", "list the members of this shared channel instead"),
  ).action(async (users: string[], flags: OnlineFlags) => {
    if (flags.channel === undefined && users.length === 0)
      throw new CliError("name at least one user, or --channel <name>", ExitCode.Usage);
    const backend = await connectBackend(flags, "herald-cli");
    try {
      if (flags.channel !== undefined) {
        const members = await backend.presence(flags.channel).catch(asCliError);
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
