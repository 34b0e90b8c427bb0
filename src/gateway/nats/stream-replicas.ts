import type { JetStreamManager, StreamConfig, StreamInfo } from "@nats-io/jetstream";
import type { ServerInfo } from "@nats-io/nats-core";
import { isJetStreamError, JetStreamErrorCode } from "../../nats/jetstream-errors.js";
import type { GatewayConfig } from "../config/config.js";
import { GATEWAY_OPTIONS } from "../config/options.js";
import type { Logger } from "../logger.js";

/** A number of replicas, or "auto" to follow the cluster. */
type ReplicasSetting = "auto" | number;

/** The options that size a stream's replicas. */
export type ReplicasOption = "historyReplicas" | "eventsReplicas" | "inboxReplicas";

/** A stream the gateway keeps, its replicas as configured and as that comes to on this cluster. */
export interface StreamReplicas {
  readonly jsm: JetStreamManager;
  /** What the stream is for, as messages about it say: "history stream", "events stream", … */
  readonly role: string;
  /** The option that sets its replicas, as messages about it name it (`--events-replicas`). */
  readonly flag: string;
  /** That option as configured. */
  readonly setting: ReplicasSetting;
  /** What `setting` comes to on this cluster (see `desiredReplicas`). */
  readonly replicas: number;
  readonly logger: Logger;
}

export interface StreamReplicasOptions {
  readonly jsm: JetStreamManager;
  readonly config: GatewayConfig;
  readonly role: string;
  readonly option: ReplicasOption;
  /** The connected server's INFO: "auto" follows its cluster. */
  readonly server: ServerInfo | undefined;
  readonly logger: Logger;
}

/** The replicas of a stream the gateway keeps, sized by `option` for the connected cluster. */
export function streamReplicas({
  jsm,
  config,
  role,
  option,
  server,
  logger,
}: StreamReplicasOptions): StreamReplicas {
  const setting = config[option];
  const flag = GATEWAY_OPTIONS[option].flag;
  return { jsm, role, flag, setting, replicas: desiredReplicas(setting, server), logger };
}

/** Replicas "auto" asks for on a cluster: the stream survives the loss of any one server. */
const CLUSTER_REPLICAS = 3;

/**
 * "auto" reads the connected server's INFO: 3 when it belongs to a cluster of 3 or more servers (or
 * to a cluster that does not advertise its size: then the placement decides, see `createStream`), 1
 * on a lone server, where JetStream refuses more.
 */
function desiredReplicas(setting: ReplicasSetting, server: ServerInfo | undefined): number {
  if (setting !== "auto") return setting;
  if (!server?.cluster) return 1;
  const servers = server.connect_urls?.length ?? 0;
  return servers === 0 || servers >= CLUSTER_REPLICAS ? CLUSTER_REPLICAS : 1;
}

/**
 * Creates the stream with the desired replicas. With "auto", a cluster that cannot place 3
 * replicas (fewer JetStream servers than routed ones) gets a stream of 1, and a warning says so; a
 * number it cannot place stops the gateway with an error naming the stream and the option.
 */
export async function createStream(
  { jsm, role, flag, setting, replicas, logger }: StreamReplicas,
  config: Partial<StreamConfig> & { name: string },
): Promise<StreamInfo> {
  try {
    return await jsm.streams.add({ ...config, num_replicas: replicas });
  } catch (err) {
    if (!isPlacementError(err)) throw err;
    const reason = (err as Error).message;
    if (setting !== "auto" || replicas === 1) {
      throw new Error(
        `${role} ${config.name} cannot be created with ${replicas} replicas (${flag} ${setting}): JetStream says "${reason}"; set ${flag} to at most the number of JetStream servers, or auto`,
        { cause: err },
      );
    }
    logger.warn(
      { stream: config.name, replicas, reason },
      `${role} ${config.name} created with 1 replica: the cluster cannot place ${replicas}; set ${flag} to choose`,
    );
    return jsm.streams.add({ ...config, num_replicas: 1 });
  }
}

/**
 * Brings an existing stream's replicas in line: to the configured number, or with "auto" up to the
 * desired one (a stream with more replicas than "auto" would choose is left as its operator set it).
 * JetStream (nats-server 2.9 and later) scales replicas up and down in place, keeping every
 * message. When it refuses (e.g. fewer servers than replicas), the stream keeps working as it is and
 * a warning says why.
 */
export async function reconcileReplicas(
  { jsm, role, flag, setting, replicas, logger }: StreamReplicas,
  info: StreamInfo,
): Promise<StreamInfo> {
  const current = info.config.num_replicas;
  const wanted = setting === "auto" ? Math.max(current, replicas) : replicas;
  if (wanted === current) return info;
  try {
    const updated = await jsm.streams.update(info.config.name, { num_replicas: wanted });
    logger.info(
      { stream: info.config.name, from: current, to: wanted },
      `${role} ${info.config.name} replicas changed`,
    );
    return updated;
  } catch (err) {
    logger.warn(
      { stream: info.config.name, replicas: current, wanted, reason: (err as Error).message },
      `${role} ${info.config.name} keeps ${current} replica(s): JetStream refused ${wanted} (${flag} ${setting})`,
    );
    return info;
  }
}

/** JetStream's answers when a cluster has too few suitable servers for the replicas asked. */
function isPlacementError(err: unknown): boolean {
  return isJetStreamError(
    err,
    JetStreamErrorCode.NoSuitablePeers,
    JetStreamErrorCode.InsufficientResources,
    JetStreamErrorCode.ReplicasNotSupported,
  );
}
