import * as v from "valibot";
import { NATS_CONNECTION_OPTIONS } from "../../nats/connection-options.js";
import { describeEnvOptions, option } from "../../options/option-spec.js";
import { DEFAULT_PREFIX, SubjectPrefix } from "../../protocol/index.js";
import { HISTORY_OPTIONS } from "../history/history-options.js";
import { parseCidr } from "../http/client-address.js";
import { ORIGIN_PATTERN } from "../http/origin-policy.js";
import { INBOX_OPTIONS } from "../inbox/inbox-options.js";
import { TRACKING_OPTIONS } from "../tracking/tracking-options.js";
import { int } from "./option-schemas.js";

export { NatsUrl } from "../../nats/connection-options.js";

const isCidr = (value: string) => {
  try {
    parseCidr(value);
    return true;
  } catch {
    return false;
  }
};

/**
 * Every gateway option, defined once: its schema, default, description and whether it is a secret.
 * From these entries come the config schema and type, the flag (`--kebab-name`) and environment
 * name (`HERALD_SNAKE_NAME`) unless an entry names its own, string coercion, `--help`,
 * `--print-config` masking and the README's table (`npm run docs:tables`).
 */
export const OPTION_SPECS = {
  host: option({
    schema: v.pipe(v.string(), v.minLength(1)),
    default: "0.0.0.0",
    description: "Address to listen on",
  }),
  port: option({
    schema: int(0, 65535),
    default: 8080,
    description: "Port for /ws, /healthz and /readyz",
  }),
  path: option({
    schema: v.pipe(
      v.string(),
      v.regex(/^\/[\w\-/]*$/, "must start with / and hold only letters, digits, - _ /"),
    ),
    default: "/ws",
    description: "WebSocket endpoint path",
  }),
  httpTransports: option({
    schema: v.boolean(),
    default: true,
    description:
      "Serve HTTP-streaming and server-sent events beside WebSocket (<path>/stream, <path>/sse, <path>/send) for clients whose WebSockets are blocked",
  }),
  sseTicketTtl: option({
    schema: int(100, 60_000),
    default: 10_000,
    description: "ms an SSE ticket (from POST <path>/sse) stays good for its one GET",
  }),
  // servers, credentials and TLS, as `herald publish` and the backend SDK take them too
  ...NATS_CONNECTION_OPTIONS,
  natsPingInterval: option({
    schema: int(100, 600_000),
    default: 2000,
    description: "ms between pings to the NATS server; one unanswered for that long makes /readyz 503",
  }),
  natsMaxPingsOut: option({
    schema: int(1, 100),
    default: 2,
    description: "Unanswered pings after which the gateway leaves a silent NATS server for another",
  }),
  prefix: option({
    schema: SubjectPrefix,
    default: DEFAULT_PREFIX,
    description: "Subject prefix for every Herald subject",
  }),
  gatewayId: option({
    schema: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ -")),
    default: undefined,
    description: "This gateway's id (random when unset)",
  }),
  authTimeout: option({
    schema: int(100, 600_000),
    default: 10_000,
    description: "ms a new socket has to send its auth frame",
  }),
  authRequestTimeout: option({
    schema: int(50, 600_000),
    default: 3000,
    description: "ms to wait for the backend's auth reply",
  }),
  authConcurrency: option({
    schema: int(1, 100_000),
    default: 512,
    description: "Auth requests in flight at once",
  }),
  authQueue: option({
    schema: int(0, 1_000_000),
    default: 20_000,
    description: "Auth requests waiting beyond that; more get 1013",
  }),
  rememberedRevocations: option({
    schema: int(100, 10_000_000),
    default: 50_000,
    description:
      "Recent control.disconnect / control.unsubscribe messages (each kind) kept for auths still under way; more: the oldest go",
  }),
  rpcTimeout: option({
    schema: int(50, 600_000),
    default: 10_000,
    description: "ms to wait for the backend's answer to a client's rpc (a call may ask for less)",
  }),
  maxRpcInFlight: option({
    schema: int(1, 10_000),
    default: 16,
    description: "RPC calls a connection may have waiting at once; more get rpc_error TOO_MANY_IN_FLIGHT",
  }),
  maxInFlightPerIp: option({
    schema: int(0, 10_000_000),
    default: 512,
    description:
      "RPC calls and subscribes one client address may have waiting for the backend, counted until answered or timed out, also after their connection closed; more get TOO_MANY_FROM_ADDRESS. 0: no limit",
  }),
  maxRpcReplyBytes: option({
    schema: int(256, 64 * 1024 * 1024),
    default: 262_144,
    description:
      "Largest backend answer to an rpc passed to a client (bytes); keep it below --max-buffered-bytes",
  }),
  subscribeRequestTimeout: option({
    schema: int(50, 600_000),
    default: 3000,
    description: "ms to wait for the backend's answer to a subscribe",
  }),
  maxSubscriptions: option({
    schema: int(0, 10_000),
    default: 64,
    description:
      "Channels one connection may subscribe to, those under way included; more are refused. 0: none",
  }),
  maxSubscribesInFlight: option({
    schema: int(1, 10_000),
    default: 8,
    description: "Subscribes one connection may have under way at once; more are refused (retryable)",
  }),
  maxFrameBytes: option({
    schema: int(256, 16 * 1024 * 1024),
    default: 16_384,
    description: "Largest frame a client may send (bytes)",
  }),
  clientFrameRate: option({
    schema: int(1, 1_000_000),
    default: 20,
    description: "Frames per second a client may send on average; more closes it with 1008 RATE_LIMITED",
  }),
  clientFrameBurst: option({
    schema: int(1, 1_000_000),
    default: 40,
    description: "Frames a client may send at once above that rate",
  }),
  maxConnections: option({
    schema: int(0, 10_000_000),
    default: 0,
    description: "Connections this process accepts; more get 503. 0: the open-files limit less 256",
  }),
  maxConnectionsPerIp: option({
    schema: int(0, 10_000_000),
    default: 0,
    description:
      "Connections one client address may hold; more get 429. 0: no limit (many users may share an address)",
  }),
  connectRatePerIp: option({
    schema: int(0, 1_000_000),
    default: 500,
    description:
      "New connections per second one client address may open on average; more get 429. 0: no limit",
  }),
  connectBurstPerIp: option({
    schema: int(1, 10_000_000),
    default: 5000,
    description:
      "New connections one client address may open at once above that rate (a NAT's users reconnecting)",
  }),
  ipv6Prefix: option({
    schema: int(16, 128),
    default: 64,
    description: "Prefix length of the IPv6 network the per-address limits count as one address",
  }),
  trustedProxies: option({
    schema: v.array(v.pipe(v.string(), v.check(isCidr, "must be an address or CIDR like 10.0.0.0/8"))),
    default: [],
    description: "Proxies (addresses or CIDRs) whose X-Forwarded-For (or PROXY header) names the client",
  }),
  proxyProtocol: option({
    schema: v.boolean(),
    default: false,
    description:
      "Read a PROXY protocol v1/v2 header from --trusted-proxies peers (L4 balancers); required from them, refused from others",
  }),
  allowedOrigins: option({
    schema: v.array(
      v.pipe(
        v.string(),
        v.regex(ORIGIN_PATTERN, "must be like https://app.example.com or https://*.example.com"),
      ),
    ),
    default: [],
    description:
      "Page origins that may connect (https://app.example.com, https://*.example.com); others get 403. Unset: any",
  }),
  upgradeTimeout: option({
    schema: int(100, 600_000),
    default: 5000,
    description: "ms a connection has to send its HTTP request headers",
  }),
  forwardHeaders: option({
    schema: v.array(v.pipe(v.string(), v.regex(/^[a-z0-9-]+$/, "header names are lower-case"))),
    default: ["origin", "user-agent"],
    description: "Upgrade headers passed to the backend (add cookie to forward cookies)",
  }),
  heartbeatInterval: option({
    schema: int(100, 3_600_000),
    default: 25_000,
    description: "ms between pings to each client",
  }),
  heartbeatTimeout: option({
    schema: int(200, 7_200_000),
    default: 60_000,
    description: "ms of client silence before closing with 4411",
  }),
  maxBufferedBytes: option({
    schema: int(1024, 1024 * 1024 * 1024),
    default: 1_048_576,
    description: "Outbound bytes a socket may have queued before it is closed with 4429",
  }),
  refreshBefore: option({
    schema: int(0, 3_600_000),
    default: 30_000,
    description: "ms before token expiry that the client is asked to refresh",
  }),
  ...HISTORY_OPTIONS,
  // connection events and presence, off by default (see docs/operations.md for their cost)
  ...TRACKING_OPTIONS,
  // the notification inbox, off by default (see docs/operations.md for its cost)
  ...INBOX_OPTIONS,
  drainWindow: option({
    schema: int(0, 3_600_000),
    default: 5000,
    description: "ms over which clients are told to reconnect on SIGTERM",
  }),
  compression: option({
    schema: v.boolean(),
    default: false,
    description:
      "Per-message deflate on WebSockets: frames from 1 KiB deflated once for every socket, no context takeover",
  }),
  logLevel: option({
    schema: v.picklist(["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
    default: "info",
    description: "trace, debug, info, warn, error, fatal or silent",
  }),
  metrics: option({
    schema: v.boolean(),
    default: true,
    description: "Serve Prometheus metrics on /metrics at --metrics-host:--metrics-port",
  }),
  metricsHost: option({
    schema: v.pipe(v.string(), v.minLength(1)),
    default: "127.0.0.1",
    description: "Address of the metrics listener (not the public port)",
  }),
  metricsPort: option({
    schema: int(0, 65535),
    default: 9464,
    description: "Port of the metrics listener (/metrics, /healthz, /readyz)",
  }),
  workers: option({
    schema: int(1, 64),
    default: 1,
    description: "Gateway processes sharing the port (one per core); each has its own NATS connection",
  }),
};

export type GatewayConfigKey = keyof typeof OPTION_SPECS;
type Schemas = { readonly [K in GatewayConfigKey]: (typeof OPTION_SPECS)[K]["schema"] };

export const GatewayConfigSchema = v.object(
  Object.fromEntries(Object.entries(OPTION_SPECS).map(([key, spec]) => [key, spec.schema])) as Schemas,
);
export type GatewayConfig = Readonly<v.InferOutput<typeof GatewayConfigSchema>>;

/** Each option with its flag, environment name and kind filled in. */
export const GATEWAY_OPTIONS = describeEnvOptions<GatewayConfigKey>(OPTION_SPECS);
