import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { RequestMux } from "../../nats/request-mux.js";
import { StoredPublisher } from "../../nats/stored-publish.js";
import type { GatewayConfig } from "../config/config.js";
import type { Tracking } from "../gateway-context.js";
import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";
import { ConnectionTracker } from "./events/connection-tracker.js";
import { EventPublisher } from "./events/event-publisher.js";
import { ensureEventStream } from "./events/event-stream.js";
import { PresenceHub } from "./presence/presence-hub.js";
import { PresenceIndex } from "./presence/presence-index.js";
import { PresenceReplica } from "./presence/presence-replica.js";
import { PresenceResponder } from "./presence/presence-responder.js";
import { RegistryBuckets } from "./registry/buckets.js";
import { Reaper } from "./registry/reaper.js";
import { Registry } from "./registry/registry.js";
import { TrackingMetrics } from "./registry/tracking-metrics.js";

/** Tracking, running (see docs/operations.md, "Presence and connection events"). */
export interface TrackingService {
  /** What sessions call. */
  readonly tracker: Tracking;
  /** After a NATS reconnect: the streams are checked again and the presence replica reloaded. */
  reconnected(): void;
  /**
   * After the gateway's connections are closed: waits up to `graceMs` for their events, then
   * deletes this gateway's records and heartbeat (what is left, a reaper publishes).
   */
  stop(graceMs: number): Promise<void>;
}

export interface TrackingOptions {
  readonly nc: NatsConnection;
  readonly config: GatewayConfig;
  readonly logger: Logger;
  /** The gateway's metrics: the registry's counters are added to them. */
  readonly metrics: GatewayMetrics;
}

/**
 * Starts what `--events` and `--presence` need: the registry buckets and the events stream, this
 * gateway's registry instance (heartbeat and records), the reaper of dead gateways, and with
 * presence the replica of every gateway's connections and the answers to backends' requests.
 * Undefined when both are off.
 */
export async function startTracking(options: TrackingOptions): Promise<TrackingService | undefined> {
  const { nc, config, logger, metrics } = options;
  if (!config.events && !config.presence) return undefined;
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc, { timeout: 5000 });
  } catch (err) {
    throw new Error(
      `connection events and presence need JetStream, and the NATS server does not offer it (${(err as Error).message}); start nats-server with -js or run the gateway with --events false --presence false`,
    );
  }
  const buckets = new RegistryBuckets({ jsm, config, nc, logger });
  const ensure = async () => {
    await buckets.ensure();
    if (config.events) await ensureEventStream({ jsm, config, server: nc.info, logger });
  };
  await ensure();
  const js = jetstream(nc);
  // Registry writes come in storms (every connection opened or closed): no Error built per request.
  const requests = new RequestMux(nc);
  const publisher = new StoredPublisher(nc, requests);
  const trackingMetrics = new TrackingMetrics(metrics.registry);
  const events = config.events
    ? new EventPublisher({ publisher, prefix: config.prefix, metrics: trackingMetrics, logger })
    : undefined;

  const index = new PresenceIndex();
  let loaded = false;
  const hub = config.presence
    ? new PresenceHub({
        index,
        isLoaded: () => loaded,
        joinLeaveLimit: config.presenceJoinLeaveLimit,
        maxListed: config.presenceMaxListed,
        intervalMs: config.presenceInterval,
        onHeldBack: () => trackingMetrics.presenceHeldBack.inc(),
      })
    : undefined;
  let tracker: ConnectionTracker | undefined;
  const registry = new Registry({
    publisher,
    buckets,
    gatewayId: config.gatewayId,
    timeoutMs: config.livenessTimeout,
    metrics: trackingMetrics,
    logger,
    onLapse: (lapsed) => tracker?.lapsed(lapsed),
    // Every presence gateway reads every shard write: a member coming and going costs one an interval.
    writeIntervalMs: config.presence ? config.presenceInterval : 0,
  });
  tracker = new ConnectionTracker({
    registry,
    events,
    presence: hub,
    gatewayId: config.gatewayId,
    subscribeLimit: config.eventsSubscribeLimit,
    metrics: trackingMetrics,
    logger,
  });
  const replica = hub
    ? new PresenceReplica({
        js,
        jsm,
        buckets,
        index,
        onChanges: (changes) => hub.changed(changes),
        logger,
        ownWrite: (key, msgId) => registry.current.records.written(key, msgId),
      })
    : undefined;
  const connectionTracker = tracker;
  const reaper = new Reaper({
    publisher,
    jsm,
    buckets,
    self: () => registry.current.id,
    timeoutMs: config.livenessTimeout,
    reap: (marker, connections) => connectionTracker.reap(marker, connections),
    logger,
    onReaped: (connections) => {
      trackingMetrics.reapedGateways.inc();
      trackingMetrics.reapedConnections.inc(connections);
    },
  });
  const responder = new PresenceResponder({
    nc,
    prefix: config.prefix,
    index,
    maxListed: config.presenceMaxListed,
    logger,
  });

  await registry.start();
  reaper.start();
  if (replica) {
    await replica.start();
    loaded = true;
    responder.start();
  }
  return {
    tracker: connectionTracker,
    reconnected() {
      ensure().catch((err: Error) => logger.error({ err: err.message }, "registry stream check failed"));
      replica?.reload();
    },
    async stop(graceMs) {
      await reaper.stop();
      await connectionTracker.settle(graceMs);
      responder.stop();
      replica?.stop();
      hub?.stop();
      await registry.stop();
      requests.close();
    },
  };
}
