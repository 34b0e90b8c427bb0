import { Command, Option } from "commander";
import { gatewayOptionRows, optionsMarkdown } from "../options-table.js";

/** `herald config`: the gateway's options table (markdown for the README, or JSON for tools). */
export function configCommand(): Command {
  return new Command("config")
    .description("Print every gateway option with its flag, environment variable and default")
    .addOption(new Option("--markdown", "as a markdown table (the default)").conflicts("json"))
    .addOption(new Option("--json", "as a JSON array"))
    .action((options: { markdown?: boolean; json?: boolean }) => {
      process.stdout.write(
        options.json ? `${JSON.stringify(gatewayOptionRows(), null, 2)}\n` : optionsMarkdown(),
      );
    });
}
