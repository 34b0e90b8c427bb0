import type * as v from "valibot";

/** One option's definition: everything else about it is derived. */
export interface OptionSpec<S extends v.GenericSchema> {
  readonly schema: S;
  readonly default: v.InferOutput<S> | undefined;
  readonly description: string;
  /** Its value is never printed: masked in printed configurations and left out of error messages. */
  readonly secret?: boolean;
  /** The flag, when not `--kebab-name` (`--no-kebab-name` for a switch that is on by default). */
  readonly flag?: string;
  /** The environment variable, when not `HERALD_SNAKE_NAME`; false for a flag without one. */
  readonly env?: string | false;
  /** What `--help` calls the flag's value (`--timeout <ms>`), when not named after its kind. */
  readonly placeholder?: string;
  /** A flag without a value: `--channel` turns it on, or `--no-ack` turns off one that is on by default. */
  readonly switch?: boolean;
  /** Left out of `--help`: a flag kept so that old command lines still work. */
  readonly hidden?: boolean;
}

/** Keeps an option's schema type, so the config type derives from the list. */
export const option = <S extends v.GenericSchema>(spec: OptionSpec<S>): OptionSpec<S> => spec;

/** Options by name, as a command or the gateway declares them. */
export type OptionSpecs = Readonly<Record<string, OptionSpec<v.GenericSchema>>>;

/** The values the options hold once loaded, typed by their schemas. */
export type OptionValues<T extends OptionSpecs> = { [K in keyof T]: v.InferOutput<T[K]["schema"]> };

/**
 * How a value given as text (a flag, an environment variable) is read: from the schema's type.
 * A switch is a boolean whose flag takes no value.
 */
export type OptionKind = "string" | "int" | "bool" | "list" | "switch";

export interface OptionDef {
  readonly kind: OptionKind;
  readonly flag: string;
  /** Undefined for a flag without an environment variable. */
  readonly env: string | undefined;
  readonly description: string;
  readonly default: unknown;
  readonly secret: boolean;
  readonly placeholder: string;
  readonly hidden: boolean;
}

function kindOf(spec: OptionSpec<v.GenericSchema>): OptionKind {
  if (spec.switch) return "switch";
  const { schema } = spec;
  const inner =
    schema.type === "optional" ? (schema as unknown as { wrapped: v.GenericSchema }).wrapped : schema;
  if (inner.type === "number") return "int";
  if (inner.type === "boolean") return "bool";
  if (inner.type === "array") return "list";
  return "string";
}

const PLACEHOLDERS: Record<OptionKind, string> = {
  string: "value",
  int: "n",
  list: "a,b",
  bool: "true|false",
  switch: "",
};

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

/** One option with its flag, environment name and kind filled in. */
export function describeOption(key: string, spec: OptionSpec<v.GenericSchema>): OptionDef {
  const kind = kindOf(spec);
  const negated = kind === "switch" && spec.default === true;
  return {
    kind,
    flag: spec.flag ?? `--${negated ? "no-" : ""}${kebab(key)}`,
    env: spec.env === false ? undefined : (spec.env ?? `HERALD_${snake(key)}`),
    description: spec.description,
    default: spec.default,
    secret: spec.secret ?? false,
    placeholder: spec.placeholder ?? PLACEHOLDERS[kind],
    hidden: spec.hidden ?? false,
  };
}

/** Each option with its flag, environment name and kind filled in. */
export function describeOptions<K extends string>(
  specs: Readonly<Record<K, OptionSpec<v.GenericSchema>>>,
): Readonly<Record<K, OptionDef>> {
  return Object.fromEntries(
    (Object.entries(specs) as [K, OptionSpec<v.GenericSchema>][]).map(([key, spec]) => [
      key,
      describeOption(key, spec),
    ]),
  ) as Record<K, OptionDef>;
}

/**
 * Options that all have an environment variable, as the gateway's do (a container sets them so);
 * throws at startup for one that has none.
 */
export function describeEnvOptions<K extends string>(
  specs: Readonly<Record<K, OptionSpec<v.GenericSchema>>>,
): Readonly<Record<K, OptionDef & { readonly env: string }>> {
  const defs = describeOptions(specs);
  for (const [key, def] of Object.entries<OptionDef>(defs)) {
    if (def.env === undefined) throw new Error(`option ${key} needs an environment variable`);
  }
  return defs as Readonly<Record<K, OptionDef & { readonly env: string }>>;
}

/** A default as `--help` and the README show it; undefined when there is none. */
export function defaultText(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.length ? value.join(",") : undefined;
  return String(value);
}
