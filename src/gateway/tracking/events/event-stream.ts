import { DiscardPolicy, type JetStreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { ServerInfo } from "@nats-io/nats-core";
import { isJetStreamError, JetStreamErrorCode } from "../../../nats/jetstream-errors.js";
import { eventSubjects } from "../../../protocol/index.js";
import type { GatewayConfig } from "../../config/config.js";
import type { Logger } from "../../logger.js";
import { ensureStream } from "../../nats/ensure-stream.js";
import { streamReplicas } from "../../nats/stream-replicas.js";

export interface EventStreamOptions {
  readonly jsm: JetStreamManager;
  readonly config: GatewayConfig;
  /** The connected server's INFO: "auto" replicas follow its cluster. */
  readonly server: ServerInfo | undefined;
  readonly logger: Logger;
}

/**
 * The stream of connection events (`--events-stream`, default HERALD_EVENTS): every
 * `<prefix>.events.>` subject, limits retention (`--events-max-age`, `--events-max-bytes`, oldest
 * dropped first), and a duplicate window (`--events-duplicate-window`) in which an event published
 * twice under one id is stored once. A stream made before with other limits is brought in line.
 * JetStream reserves `max_bytes` in its store when the stream is made: a store with less room
 * left refuses it, and the error says which option to change.
 */
export async function ensureEventStream({ jsm, config, server, logger }: EventStreamOptions): Promise<void> {
  await ensureStream(
    streamReplicas({ jsm, config, role: "events stream", option: "eventsReplicas", server, logger }),
    {
      name: config.eventsStream,
      subjects: [eventSubjects(config.prefix).all],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: config.eventsMaxAge * 1_000_000_000,
      max_bytes: config.eventsMaxBytes === 0 ? -1 : config.eventsMaxBytes,
      duplicate_window: config.eventsDuplicateWindow * 1_000_000_000,
      storage: config.eventsStorage === "memory" ? StorageType.Memory : StorageType.File,
    },
  ).catch((err: unknown) => {
    if (
      !isJetStreamError(
        err,
        JetStreamErrorCode.StorageResourcesExceeded,
        JetStreamErrorCode.MemoryResourcesExceeded,
      )
    )
      throw err;
    const store = config.eventsStorage === "memory" ? "max_memory_store" : "max_file_store";
    throw new Error(
      `JetStream has no room to reserve --events-max-bytes (${config.eventsMaxBytes} bytes) for the events stream ${config.eventsStream} (${(err as Error).message}): lower --events-max-bytes, or raise the NATS servers' jetstream ${store}`,
      { cause: err },
    );
  });
}
