import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { DEFAULT_PREFIX, formatIssues, SubjectPrefix } from "../protocol/index.js";
import { parseCidr } from "./client-address.js";
import { ORIGIN_PATTERN } from "./origin-policy.js";

/**
 * The gateway's one typed config definition. Each option has a flag, an environment name and a
 * default; the same table drives validation, `herald gateway --help` and the README's table.
 * Precedence: flag > environment > config file > default.
 */
type Kind = "string" | "int" | "bool" | "list";

interface OptionDef {
  readonly kind: Kind;
  readonly flag: string;
  readonly env: string;
  readonly description: string;
  readonly default: string | number | boolean | readonly string[] | undefined;
  readonly secret?: boolean;
}

const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
/** A NATS server URL as the NATS client takes it. */
export const NatsUrl = v.pipe(
  v.string(),
  v.regex(/^(nats|tls|ws|wss):\/\/[^\s/]+$|^[^\s:/]+:\d+$/, "must be like nats://host:4222 or host:4222"),
);
const file = v.pipe(v.string(), v.minLength(1));
const isCidr = (value: string) => {
  try {
    parseCidr(value);
    return true;
  } catch {
    return false;
  }
};

export const GatewayConfigSchema = v.object({
  host: v.pipe(v.string(), v.minLength(1)),
  port: int(0, 65535),
  path: v.pipe(v.string(), v.regex(/^\/[\w\-/]*$/, "must start with / and hold only letters, digits, - _ /")),
  nats: v.pipe(v.array(NatsUrl), v.minLength(1, "needs at least one server")),
  natsUser: v.optional(v.string()),
  natsPassword: v.optional(v.string()),
  natsToken: v.optional(v.string()),
  natsCreds: v.optional(file),
  natsTlsCa: v.optional(file),
  natsTlsCert: v.optional(file),
  natsTlsKey: v.optional(file),
  prefix: SubjectPrefix,
  gatewayId: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ -")),
  authTimeout: int(100, 600_000),
  authRequestTimeout: int(50, 600_000),
  authConcurrency: int(1, 100_000),
  authQueue: int(0, 1_000_000),
  maxFrameBytes: int(256, 16 * 1024 * 1024),
  clientFrameRate: int(1, 1_000_000),
  clientFrameBurst: int(1, 1_000_000),
  maxConnections: int(0, 10_000_000),
  maxConnectionsPerIp: int(0, 10_000_000),
  trustedProxies: v.array(v.pipe(v.string(), v.check(isCidr, "must be an address or CIDR like 10.0.0.0/8"))),
  allowedOrigins: v.array(
    v.pipe(
      v.string(),
      v.regex(ORIGIN_PATTERN, "must be like https://app.example.com or https://*.example.com"),
    ),
  ),
  upgradeTimeout: int(100, 600_000),
  forwardHeaders: v.array(v.pipe(v.string(), v.regex(/^[a-z0-9-]+$/, "header names are lower-case"))),
  heartbeatInterval: int(100, 3_600_000),
  heartbeatTimeout: int(200, 7_200_000),
  maxBufferedBytes: int(1024, 1024 * 1024 * 1024),
  refreshBefore: int(0, 3_600_000),
  history: v.boolean(),
  historyStream: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ -")),
  historyMaxAge: int(1, 10 * 365 * 86400),
  historyMaxPerSubject: int(1, 10_000_000),
  historyStorage: v.picklist(["file", "memory"]),
  historyReplicas: int(1, 5),
  recoveryMaxMessages: int(0, 1_000_000),
  recoveryBufferBytes: int(65_536, 16 * 1024 * 1024 * 1024),
  drainWindow: int(0, 3_600_000),
  compression: v.boolean(),
  logLevel: v.picklist(["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
  metrics: v.boolean(),
  metricsHost: v.pipe(v.string(), v.minLength(1)),
  metricsPort: int(0, 65535),
  workers: int(1, 64),
});

export type GatewayConfig = Readonly<v.InferOutput<typeof GatewayConfigSchema>>;
export type GatewayConfigKey = keyof GatewayConfig;

export const GATEWAY_OPTIONS: Readonly<Record<GatewayConfigKey, OptionDef>> = {
  host: {
    kind: "string",
    flag: "--host",
    env: "HERALD_HOST",
    default: "0.0.0.0",
    description: "Address to listen on",
  },
  port: {
    kind: "int",
    flag: "--port",
    env: "HERALD_PORT",
    default: 8080,
    description: "Port for /ws, /healthz and /readyz",
  },
  path: {
    kind: "string",
    flag: "--path",
    env: "HERALD_PATH",
    default: "/ws",
    description: "WebSocket endpoint path",
  },
  nats: {
    kind: "list",
    flag: "--nats",
    env: "HERALD_NATS_URL",
    default: ["nats://127.0.0.1:4222"],
    description: "NATS servers, comma-separated",
  },
  natsUser: {
    kind: "string",
    flag: "--nats-user",
    env: "HERALD_NATS_USER",
    default: undefined,
    description: "NATS user name",
  },
  natsPassword: {
    kind: "string",
    flag: "--nats-password",
    env: "HERALD_NATS_PASSWORD",
    default: undefined,
    description: "NATS password",
    secret: true,
  },
  natsToken: {
    kind: "string",
    flag: "--nats-token",
    env: "HERALD_NATS_TOKEN",
    default: undefined,
    description: "NATS token",
    secret: true,
  },
  natsCreds: {
    kind: "string",
    flag: "--nats-creds",
    env: "HERALD_NATS_CREDS",
    default: undefined,
    description: "NATS credentials file (JWT + nkey)",
  },
  natsTlsCa: {
    kind: "string",
    flag: "--nats-tls-ca",
    env: "HERALD_NATS_TLS_CA",
    default: undefined,
    description: "CA file to verify the NATS server",
  },
  natsTlsCert: {
    kind: "string",
    flag: "--nats-tls-cert",
    env: "HERALD_NATS_TLS_CERT",
    default: undefined,
    description: "Client certificate file for NATS TLS",
  },
  natsTlsKey: {
    kind: "string",
    flag: "--nats-tls-key",
    env: "HERALD_NATS_TLS_KEY",
    default: undefined,
    description: "Client key file for NATS TLS",
  },
  prefix: {
    kind: "string",
    flag: "--prefix",
    env: "HERALD_PREFIX",
    default: DEFAULT_PREFIX,
    description: "Subject prefix for every Herald subject",
  },
  gatewayId: {
    kind: "string",
    flag: "--gateway-id",
    env: "HERALD_GATEWAY_ID",
    default: undefined,
    description: "This gateway's id (random when unset)",
  },
  authTimeout: {
    kind: "int",
    flag: "--auth-timeout",
    env: "HERALD_AUTH_TIMEOUT",
    default: 10_000,
    description: "ms a new socket has to send its auth frame",
  },
  authRequestTimeout: {
    kind: "int",
    flag: "--auth-request-timeout",
    env: "HERALD_AUTH_REQUEST_TIMEOUT",
    default: 3000,
    description: "ms to wait for the backend's auth reply",
  },
  authConcurrency: {
    kind: "int",
    flag: "--auth-concurrency",
    env: "HERALD_AUTH_CONCURRENCY",
    default: 512,
    description: "Auth requests in flight at once",
  },
  authQueue: {
    kind: "int",
    flag: "--auth-queue",
    env: "HERALD_AUTH_QUEUE",
    default: 20_000,
    description: "Auth requests waiting beyond that; more get 1013",
  },
  maxFrameBytes: {
    kind: "int",
    flag: "--max-frame-bytes",
    env: "HERALD_MAX_FRAME_BYTES",
    default: 16_384,
    description: "Largest frame a client may send (bytes)",
  },
  clientFrameRate: {
    kind: "int",
    flag: "--client-frame-rate",
    env: "HERALD_CLIENT_FRAME_RATE",
    default: 20,
    description: "Frames per second a client may send on average; more closes it with 1008 RATE_LIMITED",
  },
  clientFrameBurst: {
    kind: "int",
    flag: "--client-frame-burst",
    env: "HERALD_CLIENT_FRAME_BURST",
    default: 40,
    description: "Frames a client may send at once above that rate",
  },
  maxConnections: {
    kind: "int",
    flag: "--max-connections",
    env: "HERALD_MAX_CONNECTIONS",
    default: 0,
    description: "Connections this process accepts; more get 503. 0: the open-files limit less 256",
  },
  maxConnectionsPerIp: {
    kind: "int",
    flag: "--max-connections-per-ip",
    env: "HERALD_MAX_CONNECTIONS_PER_IP",
    default: 200,
    description: "Connections one client address may hold; more get 429. 0: no limit",
  },
  trustedProxies: {
    kind: "list",
    flag: "--trusted-proxies",
    env: "HERALD_TRUSTED_PROXIES",
    default: [],
    description: "Proxies (addresses or CIDRs) whose X-Forwarded-For names the client",
  },
  allowedOrigins: {
    kind: "list",
    flag: "--allowed-origins",
    env: "HERALD_ALLOWED_ORIGINS",
    default: [],
    description:
      "Page origins that may connect (https://app.example.com, https://*.example.com); others get 403. Unset: any",
  },
  upgradeTimeout: {
    kind: "int",
    flag: "--upgrade-timeout",
    env: "HERALD_UPGRADE_TIMEOUT",
    default: 5000,
    description: "ms a connection has to send its HTTP request headers",
  },
  forwardHeaders: {
    kind: "list",
    flag: "--forward-headers",
    env: "HERALD_FORWARD_HEADERS",
    default: ["origin", "user-agent"],
    description: "Upgrade headers passed to the backend (add cookie to forward cookies)",
  },
  heartbeatInterval: {
    kind: "int",
    flag: "--heartbeat-interval",
    env: "HERALD_HEARTBEAT_INTERVAL",
    default: 25_000,
    description: "ms between pings to each client",
  },
  heartbeatTimeout: {
    kind: "int",
    flag: "--heartbeat-timeout",
    env: "HERALD_HEARTBEAT_TIMEOUT",
    default: 60_000,
    description: "ms of client silence before closing with 4411",
  },
  maxBufferedBytes: {
    kind: "int",
    flag: "--max-buffered-bytes",
    env: "HERALD_MAX_BUFFERED_BYTES",
    default: 1_048_576,
    description: "Outbound bytes a socket may have queued before it is closed with 4429",
  },
  refreshBefore: {
    kind: "int",
    flag: "--refresh-before",
    env: "HERALD_REFRESH_BEFORE",
    default: 30_000,
    description: "ms before token expiry that the client is asked to refresh",
  },
  history: {
    kind: "bool",
    flag: "--history",
    env: "HERALD_HISTORY",
    default: true,
    description: "Keep history in JetStream for recovery (false: at-most-once)",
  },
  historyStream: {
    kind: "string",
    flag: "--history-stream",
    env: "HERALD_HISTORY_STREAM",
    default: "HERALD",
    description: "JetStream stream name",
  },
  historyMaxAge: {
    kind: "int",
    flag: "--history-max-age",
    env: "HERALD_HISTORY_MAX_AGE",
    default: 86_400,
    description: "Seconds a message stays recoverable",
  },
  historyMaxPerSubject: {
    kind: "int",
    flag: "--history-max-per-subject",
    env: "HERALD_HISTORY_MAX_PER_SUBJECT",
    default: 1000,
    description: "Messages kept per user or channel",
  },
  historyStorage: {
    kind: "string",
    flag: "--history-storage",
    env: "HERALD_HISTORY_STORAGE",
    default: "file",
    description: "Stream storage: file or memory",
  },
  historyReplicas: {
    kind: "int",
    flag: "--history-replicas",
    env: "HERALD_HISTORY_REPLICAS",
    default: 1,
    description: "Stream replicas (NATS cluster)",
  },
  recoveryMaxMessages: {
    kind: "int",
    flag: "--recovery-max-messages",
    env: "HERALD_RECOVERY_MAX_MESSAGES",
    default: 300,
    description: "Most missed messages replayed on reconnect; more gives recovered: false (refetch)",
  },
  recoveryBufferBytes: {
    kind: "int",
    flag: "--recovery-buffer-bytes",
    env: "HERALD_RECOVERY_BUFFER_BYTES",
    default: 67_108_864,
    description: "History bytes held in memory at once for all recovering clients; more wait their turn",
  },
  drainWindow: {
    kind: "int",
    flag: "--drain-window",
    env: "HERALD_DRAIN_WINDOW",
    default: 5000,
    description: "ms over which clients are told to reconnect on SIGTERM",
  },
  compression: {
    kind: "bool",
    flag: "--compression",
    env: "HERALD_COMPRESSION",
    default: false,
    description: "Per-message deflate on WebSockets",
  },
  logLevel: {
    kind: "string",
    flag: "--log-level",
    env: "HERALD_LOG_LEVEL",
    default: "info",
    description: "trace, debug, info, warn, error, fatal or silent",
  },
  metrics: {
    kind: "bool",
    flag: "--metrics",
    env: "HERALD_METRICS",
    default: true,
    description: "Serve Prometheus metrics on /metrics at --metrics-host:--metrics-port",
  },
  metricsHost: {
    kind: "string",
    flag: "--metrics-host",
    env: "HERALD_METRICS_HOST",
    default: "127.0.0.1",
    description: "Address of the metrics listener (not the public port)",
  },
  metricsPort: {
    kind: "int",
    flag: "--metrics-port",
    env: "HERALD_METRICS_PORT",
    default: 9464,
    description: "Port of the metrics listener (/metrics, /healthz, /readyz)",
  },
  workers: {
    kind: "int",
    flag: "--workers",
    env: "HERALD_WORKERS",
    default: 1,
    description: "Gateway processes sharing the port (one per core); each has its own NATS connection",
  },
};

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
  for (const [key, def] of Object.entries(GATEWAY_OPTIONS) as [GatewayConfigKey, OptionDef][]) {
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
  for (const [key, def] of Object.entries(GATEWAY_OPTIONS) as [GatewayConfigKey, OptionDef][]) {
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
  if ((config.natsUser === undefined) !== (config.natsPassword === undefined)) {
    throw new ConfigError("invalid configuration:\n  natsUser and natsPassword go together");
  }
  return Object.freeze(config);
}

const INVALID = Symbol("invalid");

function coerce(kind: Kind, value: string): unknown {
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
