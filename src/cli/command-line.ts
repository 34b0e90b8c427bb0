import { type Command, Option } from "commander";
import * as v from "valibot";
import {
  ConfigError,
  invalidValue,
  type LoadSettings,
  loadOptions,
  type OptionSources,
} from "../options/option-loader.js";
import {
  defaultText,
  describeOptions,
  type OptionDef,
  type OptionSpecs,
  type OptionValues,
} from "../options/option-spec.js";
import { formatIssues } from "../protocol/index.js";
import { CliError, ExitCode } from "./cli-error.js";

/**
 * Every command's flags come from option entries: commander parses the command line, the options'
 * loader does the rest (environment, defaults, coercion, checks and the error messages).
 */

/** Adds each option as a flag with its help; returns the flags by option, e.g. to declare conflicts. */
export function addOptions<T extends OptionSpecs>(command: Command, specs: T): Record<keyof T, Option> {
  const added: Partial<Record<keyof T, Option>> = {};
  for (const [key, def] of Object.entries(describeOptions(specs)) as [keyof T, OptionDef][]) {
    const flags = flagsOf(def);
    for (const flag of flags) command.addOption(flag.hideHelp(def.hidden));
    added[key] = flags[0];
  }
  return added as Record<keyof T, Option>;
}

function flagsOf(def: OptionDef): Option[] {
  const help = helpText(def);
  switch (def.kind) {
    case "switch":
      return [new Option(def.flag, help)];
    case "bool":
      // `--history`, `--history false` and `--no-history` all work.
      return [
        new Option(`${def.flag} [${def.placeholder}]`, help),
        new Option(`--no-${def.flag.slice(2)}`, `same as ${def.flag} false`),
      ];
    default:
      return [new Option(`${def.flag} <${def.placeholder}>`, help)];
  }
}

/** `Port for /ws (env HERALD_PORT, default 8080)`. */
function helpText(def: OptionDef): string {
  const shownDefault = def.kind === "switch" ? undefined : defaultText(def.default);
  const notes = [
    ...(def.env === undefined ? [] : [`env ${def.env}`]),
    ...(shownDefault === undefined ? [] : [`default ${shownDefault}`]),
  ];
  return notes.length ? `${def.description} (${notes.join(", ")})` : def.description;
}

/** The options given as flags on this command line, by option name, as commander parsed them. */
export function givenFlags<T extends OptionSpecs>(
  command: Command,
  specs: T,
): Partial<Record<keyof T, unknown>> {
  const values = command.opts();
  const given: Partial<Record<keyof T, unknown>> = {};
  for (const [key, def] of Object.entries(describeOptions(specs)) as [keyof T, OptionDef][]) {
    const attribute = new Option(def.flag).attributeName();
    if (command.getOptionValueSource(attribute) === "cli") given[key] = values[attribute];
  }
  return given;
}

/** A positional argument as typed, its check, and what an error calls it ("user id"). */
export interface ArgumentInput<S extends v.GenericSchema = v.GenericSchema> {
  readonly value: unknown;
  readonly schema: S;
  readonly label: string;
}
export type ArgumentInputs = Readonly<Record<string, ArgumentInput>>;
type ArgumentValues<A extends ArgumentInputs> = { [K in keyof A]: v.InferOutput<A[K]["schema"]> };

export interface CommandLineSettings<T extends OptionSpecs, A extends ArgumentInputs>
  extends LoadSettings<T> {
  arguments?: A;
  defaults?: OptionSources<T>["defaults"];
}

/**
 * The command's checked arguments and options (flags given, else the environment, else the
 * defaults). Anything wrong is a usage error (exit 2) listing every problem.
 */
export function readCommandLine<T extends OptionSpecs, A extends ArgumentInputs = Record<never, never>>(
  command: Command,
  specs: T,
  settings: CommandLineSettings<T, A> = {},
): OptionValues<T> & ArgumentValues<A> {
  const problems: string[] = [];
  const args: Record<string, unknown> = {};
  for (const [name, { value, schema, label }] of Object.entries(settings.arguments ?? {})) {
    const parsed = v.safeParse(schema, value);
    if (parsed.success) args[name] = parsed.output;
    else problems.push(invalidValue(label, value, formatIssues(parsed.issues)));
  }
  let options: OptionValues<T> | undefined;
  try {
    options = loadOptions(
      specs,
      { flags: givenFlags(command, specs), env: process.env, defaults: settings.defaults },
      settings,
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (options === undefined || problems.length) throw new CliError(problems.join("\n"), ExitCode.Usage);
  return { ...args, ...options } as OptionValues<T> & ArgumentValues<A>;
}
