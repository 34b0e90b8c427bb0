import type { StreamConfig, StreamInfo } from "@nats-io/jetstream";
import { isJetStreamBusy, isJetStreamError, JetStreamErrorCode } from "../../nats/jetstream-errors.js";
import { createStream, reconcileReplicas, type StreamReplicas } from "./stream-replicas.js";

export type DesiredStream = Partial<StreamConfig> & { name: string; subjects: string[] };

/** Whether a stream's settings as stored differ from what the gateway wants of them. */
export type StreamDiffers = (current: StreamConfig) => boolean;

/** The settings a gateway keeps in line on a stream it owns by default; others are left as an operator set them. */
const KEPT: readonly (keyof StreamConfig)[] = [
  "subjects",
  "max_age",
  "max_bytes",
  "duplicate_window",
  "max_msgs_per_subject",
];

/** Differs in one of the `KEPT` settings the desired stream names. */
function differsInKept(desired: DesiredStream): StreamDiffers {
  const wanted = desired as unknown as Record<string, unknown>;
  return (config) => {
    const current = config as unknown as Record<string, unknown>;
    return KEPT.some(
      (key) => wanted[key] !== undefined && JSON.stringify(current[key]) !== JSON.stringify(wanted[key]),
    );
  };
}

/**
 * Creates a stream, or brings its settings (those `differs` looks at, by default `KEPT`) and its
 * replicas in line. Safe to call from many gateways at once: one creates it, the others find it. A
 * stream created a moment ago on a cluster has no leader yet, so "timeout" answers are retried for
 * up to 30 s.
 */
export async function ensureStream(
  target: StreamReplicas,
  desired: DesiredStream,
  differs: StreamDiffers = differsInKept(desired),
): Promise<StreamInfo> {
  const { logger } = target;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await ensureOnce(target, desired, differs);
    } catch (err) {
      if (!isJetStreamBusy(err) || Date.now() > deadline) throw err;
      logger.warn(
        { stream: desired.name, err: (err as Error).message },
        "stream not answering yet; trying again",
      );
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function ensureOnce(
  target: StreamReplicas,
  desired: DesiredStream,
  differs: StreamDiffers,
): Promise<StreamInfo> {
  const { jsm, logger } = target;
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(desired.name);
  } catch (err) {
    if (!isJetStreamError(err, JetStreamErrorCode.StreamNotFound)) throw err;
    try {
      const created = await createStream(target, desired);
      logger.info({ stream: desired.name, replicas: created.config.num_replicas }, "stream created");
      // Read back as stored: gateways creating it at the same moment each asked with settings of
      // their own (the history's epoch among them), and one of them was stored.
      return await jsm.streams.info(desired.name);
    } catch (addErr) {
      // another gateway created it at the same moment
      if (!isJetStreamError(addErr, JetStreamErrorCode.StreamNameInUse)) throw addErr;
      info = await jsm.streams.info(desired.name);
    }
  }
  if (differs(info.config)) {
    // A description is the stream's own from its creation on (the history keeps its epoch there).
    const description = info.config.description || desired.description;
    info = await jsm.streams.update(desired.name, { ...desired, description });
    logger.info({ stream: desired.name }, "stream settings updated");
  }
  return reconcileReplicas(target, info);
}
