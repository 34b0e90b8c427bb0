import type { NatsConnection } from "@nats-io/nats-core";
import type { Subjects } from "../../protocol/index.js";
import type { GatewayConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";
import type { NatsLink } from "../nats/nats-link.js";
import { History } from "./history.js";
import { StreamFeed } from "./live-feed.js";
import { type LiveKnowledge, Recovery } from "./recovery.js";
import { RecoveryBudget } from "./recovery-budget.js";
import { StreamMarker } from "./stream-marker.js";

/** What history on gives a gateway: the stream, and its live copies for the channel hub. */
export interface HistoryParts {
  readonly history: History;
  readonly feed: StreamFeed;
}

export interface StartHistoryOptions {
  /** The gateway's connection: its errors and reconnects are listened to. */
  readonly link: NatsLink;
  readonly config: GatewayConfig;
  readonly subjects: Subjects;
  readonly logger: Logger;
  /** For tests: runs before each position marker is published (see `StartOptions`). */
  readonly beforePositionMarker?: (() => Promise<void>) | undefined;
}

/**
 * Ensures the history stream and sends one position marker through it: a gateway that cannot get
 * its marker back (no permission to publish it, or a stream that does not capture it) would fail
 * every connect, so it refuses to start instead, saying why.
 */
export async function startHistory(options: StartHistoryOptions): Promise<HistoryParts> {
  const { link, config, subjects, logger, beforePositionMarker } = options;
  const nc = link.nc;
  const history = await History.open({ nc, config, subjects, logger });
  // A marker lost may be a stream whose subjects another gateway (an older version) set back: one
  // check at a time, however many markers are lost at once.
  let checking = false;
  const ensure = () => {
    if (checking) return;
    checking = true;
    history
      .ensure()
      .catch((err: Error) => logger.error({ err: err.message }, "history stream check failed"))
      .finally(() => {
        checking = false;
      });
  };
  const marker = new StreamMarker({
    nc,
    subjects,
    gatewayId: config.gatewayId,
    logger,
    onLost: ensure,
    beforePublish: beforePositionMarker,
  });
  link.onError((err) => marker.serverError(err));
  // A NATS restart without persistence loses the stream: recreate it (a new epoch).
  link.onReconnect(() => {
    history.ensure().catch((err: Error) => logger.error({ err: err.message }, "history stream check failed"));
  });
  try {
    await marker.pass();
  } catch (err) {
    marker.close();
    throw new Error(
      `history: the gateway's position marker did not come back through the stream (${(err as Error).message}); it must be allowed to publish to ${subjects.marker(config.gatewayId)} (see docs/operations.md)`,
    );
  }
  return { history, feed: new StreamFeed(subjects, marker) };
}

export interface RecoverySetup {
  /** Its `max_payload` sizes the pages read. */
  readonly nc: NatsConnection;
  readonly config: GatewayConfig;
  readonly history: History;
  /** What the live subscriptions already know (the hub). */
  readonly live: LiveKnowledge;
  readonly metrics: GatewayMetrics;
}

/** Recovery from the history stream, helped by what the live subscriptions already know. */
export function createRecovery({ nc, config, history, live, metrics }: RecoverySetup): Recovery {
  const budget = new RecoveryBudget(
    config.recoveryBufferBytes,
    metrics.recoveryBytes,
    metrics.recoveryBytesPeak,
  );
  return new Recovery({
    history,
    live,
    budget,
    metrics,
    maxMessages: config.recoveryMaxMessages,
    // a page fits the largest message the NATS server carries, with its subject and headers
    pageBytes: Math.max(256 * 1024, (nc.info?.max_payload ?? 1024 * 1024) + 8 * 1024),
    readerIdleMs: config.heartbeatTimeout + 30_000,
  });
}
