import {
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { ServerInfo } from "@nats-io/nats-core";
import { inboxSubjects } from "../../protocol/index.js";
import type { GatewayConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import { type DesiredStream, ensureStream } from "../nats/ensure-stream.js";
import { streamReplicas } from "../nats/stream-replicas.js";

/** JetStream keeps message ids for dedupe this long: a backend's retry of one notify is stored once. */
const DUPLICATE_WINDOW_NS = 120 * 1_000_000_000;

/** The inbox's streams as ensured. */
export interface InboxStreams {
  /** The notification stream's creation time, which notification ids belong to. */
  readonly epoch: string;
  /** Each stream's replicas, by name. */
  readonly replicas: Readonly<Record<string, number>>;
}

export interface InboxStreamsOptions {
  readonly jsm: JetStreamManager;
  readonly config: GatewayConfig;
  /** The connected server's INFO: "auto" replicas follow its cluster. */
  readonly server: ServerInfo | undefined;
  readonly logger: Logger;
}

/** The KV stream of the state bucket and the subject of a user's record in it. */
export function stateStream(bucket: string): string {
  return `KV_${bucket}`;
}

export function stateSubject(bucket: string, user: string): string {
  return `$KV.${bucket}.${user}`;
}

/**
 * The inbox's two streams (see docs/operations.md, "The notification inbox"):
 * - the notifications (`--inbox-stream`): `<prefix>.notify.*`, one subject per user, so retention
 *   per user is the stream's own `max_msgs_per_subject` (`--inbox-max-per-user`) and `max_age`
 *   (`--inbox-max-age`); each stored notification is republished with its sequence to
 *   `<prefix>.live.notify.<user>` for the gateways holding the user;
 * - the state bucket (`--inbox-state-bucket`), laid out as a NATS KV bucket (`nats kv get` reads
 *   it): one record per user, written with compare-and-set on its revision, kept until the user's
 *   notifications are (the same `max_age`), and republished once stored to
 *   `<prefix>.live.inboxstate.<user>` — a write refused for a stale revision never reaches anyone.
 *
 * Returns the inbox epoch (the notification stream's creation time, which ids belong to) and the
 * streams' replicas.
 */
export async function ensureInboxStreams({
  jsm,
  config,
  server,
  logger,
}: InboxStreamsOptions): Promise<InboxStreams> {
  const subjects = inboxSubjects(config.prefix);
  const replicasOf = (role: string) =>
    streamReplicas({ jsm, config, role, option: "inboxReplicas", server, logger });
  const storage = config.inboxStorage === "memory" ? StorageType.Memory : StorageType.File;
  const maxAge = config.inboxMaxAge * 1_000_000_000;
  const notifications: DesiredStream = {
    name: config.inboxStream,
    subjects: [subjects.notifyAll],
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: maxAge,
    max_msgs_per_subject: config.inboxMaxPerUser,
    duplicate_window: Math.min(maxAge, DUPLICATE_WINDOW_NS),
    allow_direct: true,
    storage,
    republish: { src: subjects.notifyAll, dest: `${config.prefix}.live.notify.{{wildcard(1)}}` },
  };
  const info = await ensureStream(replicasOf("inbox stream"), notifications, (current) =>
    differs(current, notifications),
  );
  const bucket = config.inboxStateBucket;
  const state: DesiredStream = {
    name: stateStream(bucket),
    subjects: [`$KV.${bucket}.*`],
    max_msgs_per_subject: 1,
    max_age: maxAge,
    duplicate_window: Math.min(maxAge, DUPLICATE_WINDOW_NS),
    discard: DiscardPolicy.New,
    allow_rollup_hdrs: true,
    deny_delete: true,
    allow_direct: true,
    storage,
    republish: {
      src: `$KV.${bucket}.*`,
      dest: `${config.prefix}.live.inboxstate.{{wildcard(1)}}`,
    },
  };
  const stateInfo = await ensureStream(replicasOf("inbox state bucket"), state, (current) =>
    differs(current, state),
  );
  return {
    epoch: String(Date.parse(info.created)),
    replicas: {
      [notifications.name]: info.config.num_replicas,
      [state.name]: stateInfo.config.num_replicas,
    },
  };
}

/** What the gateway keeps in line: its limits, subjects and republish; replicas are seen to apart. */
function differs(current: StreamConfig, desired: DesiredStream): boolean {
  return (
    current.max_age !== desired.max_age ||
    current.max_msgs_per_subject !== desired.max_msgs_per_subject ||
    current.subjects.join() !== desired.subjects.join() ||
    current.republish?.src !== desired.republish?.src ||
    current.republish?.dest !== desired.republish?.dest ||
    !current.allow_direct
  );
}
