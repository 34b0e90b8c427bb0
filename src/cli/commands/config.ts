import { Command } from "commander";
import * as v from "valibot";
import { option } from "../../options/option-spec.js";
import { addOptions, readCommandLine } from "../command-line.js";
import { gatewayOptionRows, optionsMarkdown } from "../options-table.js";

/** The options of `herald config`: which form the table takes. */
const CONFIG_OPTIONS = {
  markdown: option({
    schema: v.boolean(),
    default: false,
    switch: true,
    env: false,
    description: "as a markdown table (the default)",
  }),
  json: option({
    schema: v.boolean(),
    default: false,
    switch: true,
    env: false,
    description: "as a JSON array",
  }),
};

/** `herald config`: the gateway's options table (markdown for the README, or JSON for tools). */
export function configCommand(): Command {
  const command = new Command("config").description(
    "Print every gateway option with its flag, environment variable and default",
  );
  addOptions(command, CONFIG_OPTIONS).markdown.conflicts("json");
  return command.action((_options: unknown, self: Command) => {
    const { json } = readCommandLine(self, CONFIG_OPTIONS);
    process.stdout.write(json ? `${JSON.stringify(gatewayOptionRows(), null, 2)}\n` : optionsMarkdown());
  });
}
