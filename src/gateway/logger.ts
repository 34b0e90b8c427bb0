import { type Logger, pino } from "pino";
import { secretOptions } from "../options/option-loader.js";
import { OPTION_SPECS } from "./config/options.js";

export type { Logger };

/**
 * Structured JSON logs. Tokens and secret options never reach a log line: nothing logs them on
 * purpose, and the redaction list catches any object that carries one by accident.
 */
export function createLogger(level: string, gatewayId: string): Logger {
  return pino({
    level,
    base: { gateway: gatewayId },
    redact: { paths: ["token", "*.token", ...secretOptions(OPTION_SPECS), "headers.cookie"], censor: "***" },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
