import type { StoredPublisher } from "../../../nats/stored-publish.js";
import { type ConnectionEvent, eventSubjects } from "../../../protocol/index.js";
import type { Logger } from "../../logger.js";
import type { TrackingMetrics } from "../registry/tracking-metrics.js";

const encoder = new TextEncoder();

export interface EventPublisherOptions {
  readonly publisher: StoredPublisher;
  /** The subject prefix events are published under. */
  readonly prefix: string;
  readonly metrics: TrackingMetrics;
  readonly logger: Logger;
}

/**
 * Stores connection events in the events stream with an acknowledged publish, its id as
 * `Nats-Msg-Id`, retried until stored or until `keepTrying` says stop. An event given up on is
 * never silent: it is counted (`herald_events_failed_total`) and logged.
 */
export class EventPublisher {
  private readonly subjects: ReturnType<typeof eventSubjects>;

  private readonly publisher: StoredPublisher;
  private readonly metrics: TrackingMetrics;
  private readonly logger: Logger;

  constructor({ publisher, prefix, metrics, logger }: EventPublisherOptions) {
    this.publisher = publisher;
    this.metrics = metrics;
    this.logger = logger;
    this.subjects = eventSubjects(prefix);
  }

  /** Resolves true once stored (or found already stored), false when given up on. */
  async publish(event: ConnectionEvent, keepTrying: () => boolean): Promise<boolean> {
    try {
      await this.publisher.publish(
        this.subjects.of(event.kind, event.user),
        encoder.encode(JSON.stringify(event)),
        {
          msgId: event.id,
          keepTrying,
          onRetry: () => this.metrics.eventRetries.inc(),
        },
      );
      this.metrics.eventsPublished.inc({ kind: event.kind });
      return true;
    } catch (err) {
      this.metrics.eventsFailed.inc({ kind: event.kind });
      this.logger.error(
        { event: event.id, kind: event.kind, connection: event.connection, err: (err as Error).message },
        "connection event not stored",
      );
      return false;
    }
  }
}
