import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { StoredPublisher } from "../../nats/stored-publish.js";
import type { GatewayConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";
import { ensureEventStream } from "../tracking/events/event-stream.js";
import type { InboxConnections } from "./inbox-connections.js";
import { InboxHub } from "./inbox-hub.js";
import { InboxMetrics } from "./inbox-metrics.js";
import { InboxResponder } from "./inbox-responder.js";
import { InboxStore } from "./inbox-store.js";
import { ensureInboxStreams } from "./inbox-streams.js";
import { PayloadBudget } from "./page-payloads.js";
import { UnseenWatch } from "./unseen-watch.js";

/** A redelivered check (its acknowledgement lost) must still fall in the events stream's duplicate window. */
const MIN_DUPLICATE_WINDOW_S = 60;

/** The notification inbox, running (see docs/operations.md, "The notification inbox"). */
export interface Inbox {
  readonly connections: InboxConnections;
  /** After a NATS reconnect: the streams are checked again, and every user held catches up. */
  reconnected(): void;
  /** Hands back the unseen checks it took (before the NATS connection closes) and lets go of the rest; once. */
  stop(): Promise<void>;
}

export interface InboxOptions {
  readonly nc: NatsConnection;
  readonly config: GatewayConfig;
  readonly logger: Logger;
  /** The gateway's metrics: the inbox's are added to them. */
  readonly metrics: GatewayMetrics;
}

/**
 * Starts what `--inbox` needs: the notification stream and the state bucket, the hub of the users
 * held here, the answers to backends' inbox requests, and with `--inbox-unseen-after` the events
 * stream and the shared consumer that finds notifications not seen in time.
 */
export async function startInbox({ nc, config, logger, metrics }: InboxOptions): Promise<Inbox> {
  const unseen = config.inboxUnseenAfter > 0;
  if (unseen && config.eventsDuplicateWindow < MIN_DUPLICATE_WINDOW_S)
    throw new Error(
      `--inbox-unseen-after needs --events-duplicate-window of at least ${MIN_DUPLICATE_WINDOW_S} s, so that an unseen event is stored once`,
    );
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc, { timeout: 5000 });
  } catch (err) {
    throw new Error(
      `the inbox needs JetStream, and the NATS server does not offer it (${(err as Error).message}); start nats-server with -js or run the gateway with --inbox false`,
    );
  }
  const ensure = async () => {
    const ensured = await ensureInboxStreams({ jsm, config, server: nc.info, logger });
    if (unseen) await ensureEventStream({ jsm, config, server: nc.info, logger });
    return ensured;
  };
  const ensured = await ensure();
  let epoch = ensured.epoch;
  const payloads = new PayloadBudget(config.inboxPageCache * 1024 * 1024);
  const inboxMetrics = new InboxMetrics(metrics.registry, payloads);
  const js = jetstream(nc);
  const store = new InboxStore({ nc, jsm, js, config, metrics: inboxMetrics });
  store.replicasOf(ensured.replicas);
  const hub = new InboxHub({
    nc,
    store,
    logger,
    metrics: inboxMetrics,
    epoch: () => epoch,
    cap: config.inboxUnreadCap,
    maxPerUser: config.inboxMaxPerUser,
    maxAgeMs: config.inboxMaxAge * 1000,
    recoveryMax: config.inboxRecoveryMax,
    payloads,
  });
  const responder = new InboxResponder({ nc, subjects: store.subjects, hub, metrics: inboxMetrics, logger });
  responder.start();
  const publisher = unseen ? new StoredPublisher(nc) : undefined;
  const watch = publisher
    ? new UnseenWatch({
        jsm,
        js,
        store,
        publisher,
        stream: config.inboxStream,
        afterMs: config.inboxUnseenAfter * 1000,
        gatewayId: config.gatewayId,
        epoch: () => epoch,
        metrics: inboxMetrics,
        logger,
      })
    : undefined;
  await watch?.start();
  let stopped: Promise<void> | undefined;
  return {
    connections: hub,
    reconnected() {
      // A NATS restart without persistence loses the streams: they are made again (a new epoch).
      ensure()
        .then((again) => {
          epoch = again.epoch;
          store.replicasOf(again.replicas);
          hub.reconnected();
        })
        .catch((err: Error) => logger.error({ err: err.message }, "inbox stream check failed"));
    },
    stop() {
      stopped ??= (async () => {
        await watch?.stop();
        responder.stop();
        hub.close();
        store.close();
      })();
      return stopped;
    },
  };
}
