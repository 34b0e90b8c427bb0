import { type GatewayConfig, loadGatewayConfig } from "../gateway/config/config.js";
import { type RunningGateway, type StartOptions, startGateway } from "../gateway/gateway.js";
import type { NatsServer } from "../local/nats-server.js";

/** A gateway in this process on a free loopback port, quiet, pointed at the given nats-server. */
export function startTestGateway(
  nats: NatsServer | string,
  overrides: Partial<GatewayConfig> = {},
  options: StartOptions = {},
): Promise<RunningGateway> {
  const config = loadGatewayConfig({
    overrides: {
      host: "127.0.0.1",
      port: 0,
      nats: [typeof nats === "string" ? nats : nats.url],
      logLevel: "silent",
      history: false,
      metricsPort: 0,
      ...overrides,
    },
  });
  return startGateway(config, { processMetrics: false, ...options });
}
