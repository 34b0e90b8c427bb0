import type * as v from "valibot";

/** One option's definition: everything else about it is derived. */
export interface OptionSpec<S extends v.GenericSchema> {
  readonly schema: S;
  readonly default: v.InferOutput<S> | undefined;
  readonly description: string;
  readonly secret?: boolean;
  /** The flag, when not `--kebab-name`. */
  readonly flag?: string;
  /** The environment variable, when not `HERALD_SNAKE_NAME`. */
  readonly env?: string;
}

/** Keeps an option's schema type, so the config type derives from the list. */
export const option = <S extends v.GenericSchema>(spec: OptionSpec<S>): OptionSpec<S> => spec;

/** How a value given as text (a flag, an environment variable) is read: from the schema's type. */
export type OptionKind = "string" | "int" | "bool" | "list";

export interface OptionDef {
  readonly kind: OptionKind;
  readonly flag: string;
  readonly env: string;
  readonly description: string;
  readonly default: unknown;
  readonly secret: boolean;
}

function kindOf(schema: v.GenericSchema): OptionKind {
  const inner =
    schema.type === "optional" ? (schema as unknown as { wrapped: v.GenericSchema }).wrapped : schema;
  if (inner.type === "number") return "int";
  if (inner.type === "boolean") return "bool";
  if (inner.type === "array") return "list";
  return "string";
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

/** Each option with its flag, environment name and kind filled in. */
export function describeOptions<K extends string>(
  specs: Readonly<Record<K, OptionSpec<v.GenericSchema>>>,
): Readonly<Record<K, OptionDef>> {
  return Object.fromEntries(
    (Object.entries(specs) as [K, OptionSpec<v.GenericSchema>][]).map(([key, spec]) => [
      key,
      {
        kind: kindOf(spec.schema),
        flag: spec.flag ?? `--${kebab(key)}`,
        env: spec.env ?? `HERALD_${snake(key)}`,
        description: spec.description,
        default: spec.default,
        secret: spec.secret ?? false,
      },
    ]),
  ) as Record<K, OptionDef>;
}
