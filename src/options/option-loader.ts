import { readFileSync } from "node:fs";
import * as v from "valibot";
import { clip, formatIssues, quote } from "../protocol/index.js";
import {
  describeOptions,
  type OptionDef,
  type OptionKind,
  type OptionSpecs,
  type OptionValues,
} from "./option-spec.js";

/**
 * Loading options from their sources, for the gateway and every command alike. Precedence:
 * code > flag > environment > config file > default. Each bad value is reported in one line naming
 * the option, its flag and environment variable, where the value came from and the value itself
 * (unless the option is a secret).
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "HERALD_CONFIG";
  constructor(
    message: string,
    /** One line per problem. */
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
  }
}

export interface OptionSources<T extends OptionSpecs> {
  /** Values from command-line flags: text as typed, or already typed (a switch's true or false). */
  flags?: Partial<Record<keyof T, unknown>>;
  env?: Readonly<Record<string, string | undefined>>;
  /** Path of a JSON file holding an object of options by name. */
  configFile?: string;
  /** Defaults known only when loading (a random id, a server found running), in place of the entries'. */
  defaults?: Partial<OptionValues<T>>;
  /** Typed values from code, e.g. tests: they win over everything. */
  overrides?: Partial<OptionValues<T>>;
}

/** A rule between options, checked once each one is valid: what is wrong, or undefined. */
export type OptionCheck<V> = (values: V, defs: Readonly<Record<keyof V, OptionDef>>) => string | undefined;

export interface LoadSettings<T extends OptionSpecs> {
  checks?: readonly OptionCheck<OptionValues<T>>[];
  /** The error's first line ("invalid configuration"); without one the error is its problems alone. */
  heading?: string;
}

type Origin =
  | { readonly kind: "default" | "flag" | "code" }
  | { readonly kind: "env"; readonly name: string }
  | { readonly kind: "file"; readonly path: string };

interface Given {
  /** The value as given, before coercion: what an error message shows. */
  readonly raw: unknown;
  readonly value: unknown;
  readonly origin: Origin;
}

/** The options' values from every source, validated; throws ConfigError listing each problem. */
export function loadOptions<T extends OptionSpecs>(
  specs: T,
  sources: OptionSources<T> = {},
  settings: LoadSettings<T> = {},
): OptionValues<T> {
  const defs: Readonly<Record<string, OptionDef>> = describeOptions(specs);
  const given = new Map<string, Given>();
  const problems: string[] = [];
  const take = (key: string, raw: unknown, origin: Origin) => {
    const def = defs[key];
    if (raw === undefined || !def) return;
    // Text from a command line or the environment is read by the option's kind; the rest is typed.
    const fromText = typeof raw === "string" && (origin.kind === "flag" || origin.kind === "env");
    const value = fromText ? coerce(def.kind, raw) : raw;
    if (value === INVALID) {
      const expected = def.kind === "int" ? "a whole number" : "true or false";
      problems.push(describeProblem(key, def, { raw, value, origin }, `expected ${expected}`));
    } else given.set(key, { raw, value, origin });
  };

  for (const [key, spec] of Object.entries(specs)) take(key, spec.default, { kind: "default" });
  for (const [key, value] of Object.entries(sources.defaults ?? {})) take(key, value, { kind: "default" });
  const env = sources.env ?? {};
  if (sources.configFile !== undefined) {
    const path = sources.configFile;
    for (const [key, value] of Object.entries(readOptionsFile(path))) {
      if (key in defs) take(key, value, { kind: "file", path });
      else problems.push(`config file ${path}: unknown option ${quote(key, 32)}`);
    }
  }
  for (const [key, { env: name }] of Object.entries(defs)) {
    // An empty variable counts as unset.
    const text = name === undefined ? undefined : env[name];
    if (name !== undefined && text) take(key, text, { kind: "env", name });
  }
  for (const [key, value] of Object.entries(sources.flags ?? {})) take(key, value, { kind: "flag" });
  for (const [key, value] of Object.entries(sources.overrides ?? {})) take(key, value, { kind: "code" });

  const schema = v.object(Object.fromEntries(Object.entries(specs).map(([key, spec]) => [key, spec.schema])));
  const parsed = v.safeParse(schema, Object.fromEntries([...given].map(([key, { value }]) => [key, value])));
  if (!parsed.success) problems.push(...parsed.issues.map((issue) => describeIssue(issue, defs, given)));
  if (problems.length === 0 && parsed.success) {
    const values = parsed.output as OptionValues<T>;
    for (const check of settings.checks ?? []) {
      const problem = check(values, defs as Readonly<Record<keyof T, OptionDef>>);
      if (problem !== undefined) problems.push(problem);
    }
    if (problems.length === 0) return values;
  }
  const heading = settings.heading === undefined ? "" : `${settings.heading}:\n  `;
  throw new ConfigError(`${heading}${problems.join(heading ? "\n  " : "\n")}`, problems);
}

/** A check that the options are all given or none of them: `--nats-user and --nats-password go together`. */
export function together<K extends string>(
  ...keys: readonly K[]
): OptionCheck<{ readonly [P in K]?: unknown }> {
  return (values, defs) => {
    const set = keys.filter((key) => values[key] !== undefined);
    return set.length > 0 && set.length < keys.length
      ? `${keys.map((key) => defs[key].flag).join(" and ")} go together`
      : undefined;
  };
}

/** `invalid <name> <value>: <message>`, the one shape of every complaint about a value given. */
export function invalidValue(name: string, value: unknown, message: string, where = ""): string {
  return `invalid ${name}${value === undefined ? "" : ` ${show(value)}`}${where}: ${message}`;
}

/** A schema's complaint about one option's value, as a problem line. */
function describeIssue(
  issue: v.BaseIssue<unknown>,
  defs: Readonly<Record<string, OptionDef>>,
  given: ReadonlyMap<string, Given>,
): string {
  const key = String(issue.path?.[0]?.key ?? "");
  const def = defs[key];
  if (!def) return formatIssues([issue]);
  // valibot's own messages show the value ("… but received "hunter2""): a secret's says what it expected.
  const text =
    def.secret && issue.message.includes(issue.received)
      ? `expected ${issue.expected ?? "another value"}`
      : issue.message;
  // An item of a list: which one, counting from 1.
  const item = issue.path?.[1]?.key;
  return describeProblem(
    key,
    def,
    given.get(key),
    typeof item === "number" ? `item ${item + 1}: ${text}` : text,
  );
}

/** `port (--port / HERALD_PORT): invalid HERALD_PORT "abc": expected a whole number`. */
function describeProblem(key: string, def: OptionDef, given: Given | undefined, message: string): string {
  const names = def.env === undefined ? def.flag : `${def.flag} / ${def.env}`;
  if (given === undefined) return `${key} (${names}): not set: ${message}`;
  const { origin } = given;
  const name = origin.kind === "flag" ? def.flag : origin.kind === "env" ? origin.name : "value";
  const where = origin.kind === "file" ? ` in config file ${origin.path}` : "";
  return `${key} (${names}): ${invalidValue(name, def.secret ? undefined : given.raw, message, where)}`;
}

function show(value: unknown): string {
  return typeof value === "string" ? quote(value) : clip(JSON.stringify(value) ?? String(value));
}

const INVALID = Symbol("invalid");

function coerce(kind: OptionKind, text: string): unknown {
  switch (kind) {
    case "string":
      return text;
    case "list":
      return text
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    case "int":
      return /^-?\d+$/.test(text.trim()) ? Number(text) : INVALID;
    case "bool":
    case "switch":
      if (/^(true|1|yes|on)$/i.test(text)) return true;
      if (/^(false|0|no|off)$/i.test(text)) return false;
      return INVALID;
  }
}

/** A JSON config file's options by name; throws ConfigError when it cannot be read or is not an object. */
export function readOptionsFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`config file ${path} must hold a JSON object of options`);
  }
  return value as Record<string, unknown>;
}

/** The values with every secret option's masked, for logs and printed configurations. */
export function redactOptions(specs: OptionSpecs, values: object): Record<string, unknown> {
  const secrets = new Set(secretOptions(specs));
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [
      key,
      secrets.has(key) && value !== undefined ? "***" : value,
    ]),
  );
}

/** The names of the options marked secret. */
export function secretOptions(specs: OptionSpecs): string[] {
  return Object.entries(specs)
    .filter(([, spec]) => spec.secret)
    .map(([key]) => key);
}
