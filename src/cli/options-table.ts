import { GATEWAY_OPTIONS, type GatewayConfigKey } from "../gateway/config/config.js";
import { defaultText } from "../options/option-spec.js";

export interface OptionRow {
  readonly option: GatewayConfigKey;
  readonly flag: string;
  readonly env: string;
  readonly default: string;
  readonly description: string;
}

/** The gateway's options as rows, in the table's order; the one source for --help, the README and --json. */
export function gatewayOptionRows(): OptionRow[] {
  return (
    Object.entries(GATEWAY_OPTIONS) as [GatewayConfigKey, (typeof GATEWAY_OPTIONS)[GatewayConfigKey]][]
  ).map(([option, def]) => ({
    option,
    flag: def.flag,
    env: def.env,
    default: formatDefault(option, def.default),
    description: def.description,
  }));
}

function formatDefault(option: GatewayConfigKey, value: unknown): string {
  return defaultText(value) ?? (option === "gatewayId" ? "random" : "unset");
}

/** A GitHub-flavoured markdown table of every gateway option. */
export function optionsMarkdown(): string {
  const cell = (text: string) => text.replace(/\|/g, "\\|");
  const lines = [
    "| Option | Flag | Environment | Default | Description |",
    "| --- | --- | --- | --- | --- |",
    ...gatewayOptionRows().map(
      (row) =>
        `| ${row.option} | \`${row.flag}\` | \`${row.env}\` | \`${cell(row.default)}\` | ${cell(row.description)} |`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}
