import type { Logger } from "./logger.js";
import type { GatewayMetrics } from "./metrics.js";

/** An error raised on behalf of one connection carries its id, so the guard can say whose it was. */
export interface ConnectionTagged {
  readonly connection?: string;
}

/**
 * The last line of defence: every session already catches what its own socket causes and closes
 * only that socket (1011). Anything that still escapes to the process is logged, with the
 * connection id when the error carries one, and counted, instead of ending every other connection.
 * Returns a function that removes the guard.
 */
export function installProcessGuard(logger: Logger, metrics?: GatewayMetrics): () => void {
  const onError = (err: unknown, origin: string) => {
    metrics?.internalErrors.inc();
    const connection = (err as ConnectionTagged | null)?.connection;
    logger.error(
      { err: err instanceof Error ? err : String(err), origin, ...(connection ? { connection } : {}) },
      "uncaught error; the gateway keeps running",
    );
  };
  const onUncaught = (err: Error, origin: string) => onError(err, origin);
  const onRejection = (reason: unknown) => onError(reason, "unhandledRejection");
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onRejection);
  return () => {
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onRejection);
  };
}
