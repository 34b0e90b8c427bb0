import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { unpairedNatsOptions } from "../nats/connection-options.js";
import type { OptionKind } from "../options/option-spec.js";
import { formatIssues } from "../protocol/index.js";
import {
  GATEWAY_OPTIONS,
  type GatewayConfig,
  type GatewayConfigKey,
  GatewayConfigSchema,
} from "./options.js";

export {
  GATEWAY_OPTIONS,
  type GatewayConfig,
  type GatewayConfigKey,
  GatewayConfigSchema,
  NatsUrl,
} from "./options.js";

/**
 * Loading the gateway's configuration from its sources, each option defined once in options.ts.
 * Precedence: flag > environment > config file > default.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "HERALD_CONFIG";
}

export interface ConfigSources {
  /** Values from command-line flags, keyed by option (strings as typed, or already typed). */
  flags?: Partial<Record<GatewayConfigKey, unknown>>;
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file; `HERALD_CONFIG` when unset. */
  configFile?: string;
  /** Typed overrides, e.g. from tests; win over everything. */
  overrides?: Partial<GatewayConfig>;
}

/** Builds the config from all sources, validated and frozen; throws ConfigError naming each bad value. */
export function loadGatewayConfig(sources: ConfigSources = {}): GatewayConfig {
  const env = sources.env ?? {};
  const raw: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  for (const [key, def] of Object.entries(GATEWAY_OPTIONS) as [
    GatewayConfigKey,
    (typeof GATEWAY_OPTIONS)[GatewayConfigKey],
  ][]) {
    if (def.default !== undefined) {
      raw[key] = def.default;
      origin[key] = "default";
    }
  }
  const configFile = sources.configFile ?? env.HERALD_CONFIG;
  if (configFile) {
    for (const [key, value] of Object.entries(readConfigFile(configFile))) {
      if (!(key in GATEWAY_OPTIONS))
        throw new ConfigError(`config file ${configFile}: unknown option "${key}"`);
      raw[key] = value;
      origin[key] = `config file ${configFile}`;
    }
  }
  const errors: string[] = [];
  const apply = (key: GatewayConfigKey, value: unknown, from: string) => {
    const def = GATEWAY_OPTIONS[key];
    const coerced = typeof value === "string" ? coerce(def.kind, value) : value;
    if (coerced === INVALID) {
      const expected = def.kind === "int" ? "a whole number" : "true or false";
      errors.push(
        `${key} (from ${from}; ${def.flag} / ${def.env}): expected ${expected}, got ${JSON.stringify(value)}`,
      );
      return;
    }
    raw[key] = coerced;
    origin[key] = from;
  };
  for (const [key, def] of Object.entries(GATEWAY_OPTIONS) as [
    GatewayConfigKey,
    (typeof GATEWAY_OPTIONS)[GatewayConfigKey],
  ][]) {
    const fromEnv = env[def.env];
    if (fromEnv !== undefined && fromEnv !== "") apply(key, fromEnv, def.env);
  }
  for (const [key, value] of Object.entries(sources.flags ?? {}) as [GatewayConfigKey, unknown][]) {
    if (value !== undefined) apply(key, value, GATEWAY_OPTIONS[key].flag);
  }
  Object.assign(raw, sources.overrides ?? {});
  raw.gatewayId ??= `gw-${randomBytes(4).toString("hex")}`;
  if (errors.length) throw new ConfigError(`invalid configuration:\n  ${errors.join("\n  ")}`);

  const parsed = v.safeParse(GatewayConfigSchema, raw);
  if (!parsed.success) {
    const lines = parsed.issues.map((issue) => {
      const key = String(issue.path?.[0]?.key ?? "");
      const def = GATEWAY_OPTIONS[key as GatewayConfigKey];
      const where = def ? `${key} (from ${origin[key] ?? "unset"}; ${def.flag} / ${def.env})` : key;
      const nested = (issue.path?.length ?? 0) > 1 ? formatIssues([issue]) : issue.message;
      return `${where}: ${nested}${"input" in issue ? `, got ${JSON.stringify(issue.input)}` : ""}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  const config = parsed.output;
  if (config.heartbeatTimeout <= config.heartbeatInterval) {
    throw new ConfigError("invalid configuration:\n  heartbeatTimeout must be larger than heartbeatInterval");
  }
  if (config.events && config.eventsDuplicateWindow * 1000 < 2 * config.livenessTimeout) {
    // A dead gateway's last disconnects may be published again by the gateway that takes over.
    throw new ConfigError(
      "invalid configuration:\n  eventsDuplicateWindow must be at least twice livenessTimeout (in seconds)",
    );
  }
  const unpaired = unpairedNatsOptions(config);
  if (unpaired) throw new ConfigError(`invalid configuration:\n  ${unpaired.join(" and ")} go together`);
  return Object.freeze(config);
}

const INVALID = Symbol("invalid");

function coerce(kind: OptionKind, value: string): unknown {
  switch (kind) {
    case "string":
      return value;
    case "list":
      return value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    case "int":
      return /^-?\d+$/.test(value.trim()) ? Number(value) : INVALID;
    case "bool":
      if (/^(true|1|yes|on)$/i.test(value)) return true;
      if (/^(false|0|no|off)$/i.test(value)) return false;
      return INVALID;
  }
}

function readConfigFile(path: string): Record<string, unknown> {
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

/** The config with secrets masked, for logs and `herald gateway --print-config`. */
export function redactConfig(config: GatewayConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const [key, def] of Object.entries(GATEWAY_OPTIONS)) {
    if (def.secret && out[key] !== undefined) out[key] = "***";
  }
  return out;
}
