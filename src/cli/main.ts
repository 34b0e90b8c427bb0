import { Command, CommanderError } from "commander";
import { ConfigError } from "../options/option-loader.js";
import { CliError, ExitCode } from "./cli-error.js";
import { configCommand } from "./commands/config.js";
import { disconnectCommand } from "./commands/disconnect.js";
import { eventsCommand } from "./commands/events.js";
import { gatewayCommand } from "./commands/gateway.js";
import { inboxCommand } from "./commands/inbox.js";
import { notifyCommand } from "./commands/notify.js";
import { onlineCommand } from "./commands/online.js";
import { publishCommand } from "./commands/publish.js";
import { startCommand } from "./commands/start.js";
import { exitAfterFlush } from "./exit.js";
import { heraldVersion } from "./version.js";

/** The `herald` program with every command. */
export function buildProgram(): Command {
  const program = new Command("herald")
    .description("Herald: a real-time notification gateway on NATS")
    .version(heraldVersion())
    .addCommand(gatewayCommand())
    .addCommand(publishCommand())
    .addCommand(notifyCommand())
    .addCommand(inboxCommand())
    .addCommand(disconnectCommand())
    .addCommand(startCommand())
    .addCommand(eventsCommand())
    .addCommand(onlineCommand())
    .addCommand(configCommand());
  // Usage errors become exceptions so they can exit with 2 (commander's own default is 1).
  for (const command of [program, ...program.commands]) {
    command.exitOverride().showHelpAfterError("(run with --help for usage)");
  }
  return program;
}

async function main(argv: readonly string[]): Promise<never> {
  try {
    await buildProgram().parseAsync([...argv]);
    return await exitAfterFlush(typeof process.exitCode === "number" ? process.exitCode : ExitCode.Ok);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed the message or the help already.
      return await exitAfterFlush(error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage);
    }
    if (error instanceof CliError || error instanceof ConfigError) {
      process.stderr.write(`herald: ${error.message}\n`);
      return await exitAfterFlush(error instanceof CliError ? error.exitCode : ExitCode.Usage);
    }
    process.stderr.write(
      `herald: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return await exitAfterFlush(ExitCode.Failure);
  }
}

await main(process.argv);
