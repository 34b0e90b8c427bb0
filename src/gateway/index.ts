export {
  ConfigError,
  GATEWAY_OPTIONS,
  type GatewayConfig,
  type GatewayConfigKey,
  GatewayConfigSchema,
  loadGatewayConfig,
  redactConfig,
} from "./config/config.js";
export { type RunningGateway, type StartOptions, startGateway } from "./gateway.js";
export type { MetricsExposition } from "./http/http-routes.js";
export { createLogger, type Logger } from "./logger.js";
export { installProcessGuard } from "./process-guard.js";
