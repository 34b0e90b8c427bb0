import type { Logger } from "../gateway/index.js";

const CLOSE_GRACE_MS = 2000;

interface Stoppable {
  drain(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Resolves with the exit code once the gateway has stopped: the first SIGTERM or SIGINT drains it
 * (clients are told to reconnect elsewhere), a second one closes it at once.
 */
export function stopOnSignals(gateway: Stoppable, logger: Logger): Promise<number> {
  return new Promise((resolve) => {
    let received = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      received++;
      if (received === 1) {
        logger.info({ signal }, "draining; send the signal again to close at once");
        gateway.drain().then(
          () => resolve(0),
          (error: unknown) => {
            logger.error({ err: error }, "drain failed");
            resolve(1);
          },
        );
        return;
      }
      logger.warn({ signal }, "closing at once");
      // Bounded: a close that waits on the drain in progress must not defeat the second signal.
      const grace = setTimeout(() => {
        logger.warn("close did not finish in time; exiting");
        resolve(1);
      }, CLOSE_GRACE_MS);
      gateway.close().then(
        () => {
          clearTimeout(grace);
          resolve(0);
        },
        (error: unknown) => {
          clearTimeout(grace);
          logger.error({ err: error }, "close failed");
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
