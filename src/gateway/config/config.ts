import { randomBytes } from "node:crypto";
import * as v from "valibot";
import { natsUserWithPassword } from "../../nats/connection-options.js";
import { loadOptions, type OptionCheck, redactOptions } from "../../options/option-loader.js";
import { option } from "../../options/option-spec.js";
import { type GatewayConfig, type GatewayConfigKey, OPTION_SPECS } from "./options.js";

export { ConfigError } from "../../options/option-loader.js";
export {
  GATEWAY_OPTIONS,
  type GatewayConfig,
  type GatewayConfigKey,
  GatewayConfigSchema,
  NatsUrl,
} from "./options.js";

const CONFIG_FILE_ENV = "HERALD_CONFIG";

/** `--config` (`HERALD_CONFIG`): the gateway's JSON config file, one option per key. */
export const CONFIG_FILE_OPTION = option({
  schema: v.optional(v.pipe(v.string(), v.minLength(1))),
  default: undefined,
  env: CONFIG_FILE_ENV,
  placeholder: "file",
  description: "JSON config file; flags and environment win over it",
});

export interface ConfigSources {
  /** Values from command-line flags, keyed by option (strings as typed, or already typed). */
  flags?: Partial<Record<GatewayConfigKey, unknown>>;
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file; `HERALD_CONFIG` when unset. */
  configFile?: string;
  /** Typed overrides, e.g. from tests; win over everything. */
  overrides?: Partial<GatewayConfig>;
}

/** Rules between the gateway's options, each checked once every option is valid. */
const GATEWAY_CHECKS: readonly OptionCheck<GatewayConfig>[] = [
  (config) =>
    config.heartbeatTimeout <= config.heartbeatInterval
      ? "heartbeatTimeout must be larger than heartbeatInterval"
      : undefined,
  // A dead gateway's last disconnects may be published again by the gateway that takes over.
  (config) =>
    config.events && config.eventsDuplicateWindow * 1000 < 2 * config.livenessTimeout
      ? "eventsDuplicateWindow must be at least twice livenessTimeout (in seconds)"
      : undefined,
  natsUserWithPassword,
];

/**
 * The gateway's configuration from all sources, each option defined once in options.ts, validated
 * and frozen. Precedence: flag > environment > config file > default; throws ConfigError naming
 * each bad value.
 */
export function loadGatewayConfig(sources: ConfigSources = {}): GatewayConfig {
  const env = sources.env ?? {};
  const configFile = sources.configFile ?? env[CONFIG_FILE_ENV];
  const config = loadOptions(
    OPTION_SPECS,
    {
      flags: sources.flags,
      env,
      configFile: configFile || undefined,
      defaults: { gatewayId: `gw-${randomBytes(4).toString("hex")}` },
      overrides: sources.overrides,
    },
    { checks: GATEWAY_CHECKS, heading: "invalid configuration" },
  );
  return Object.freeze(config);
}

/** The config with secrets masked, for logs and `herald gateway --print-config`. */
export function redactConfig(config: GatewayConfig): Record<string, unknown> {
  return redactOptions(OPTION_SPECS, config);
}
