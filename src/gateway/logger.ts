import { type Logger, pino } from "pino";

export type { Logger };

/**
 * Structured JSON logs. Tokens never reach a log line: nothing logs them on purpose, and the
 * redaction list catches any object that carries one by accident.
 */
export function createLogger(level: string, gatewayId: string): Logger {
  return pino({
    level,
    base: { gateway: gatewayId },
    redact: { paths: ["token", "*.token", "natsPassword", "natsToken", "headers.cookie"], censor: "***" },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
