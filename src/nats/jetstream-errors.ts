import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { TimeoutError } from "@nats-io/nats-core";

/**
 * The JetStream API errors Herald acts on (the gateway, the backend SDK and the CLI), by the
 * `err_code` of the server's answer (nats-server's errors.json), never by the wording of its
 * description. The library's own constants where it has them.
 */
export const JetStreamErrorCode = {
  /** "stream not found" */
  StreamNotFound: JetStreamApiCodes.StreamNotFound,
  /** "consumer not found" */
  ConsumerNotFound: JetStreamApiCodes.ConsumerNotFound,
  /** "stream name already in use with a different configuration" */
  StreamNameInUse: 10058,
  /** "no message found" */
  NoMessageFound: JetStreamApiCodes.NoMessageFound,
  /** "wrong last sequence: N": a `Nats-Expected-Last-Subject-Sequence` that did not hold */
  StreamWrongLastSequence: JetStreamApiCodes.StreamWrongLastSequence,
  /** "wrong last sequence": the same, when the server cannot tell the subject's last sequence */
  StreamWrongLastSequenceUnknown: JetStreamApiCodes.StreamWrongLastSequenceUnknown,
  /** "JetStream system temporarily unavailable", e.g. while the cluster elects a meta leader */
  ClusterNotAvailable: 10008,
  /** "no suitable peers for placement" */
  NoSuitablePeers: 10005,
  /** "insufficient resources" */
  InsufficientResources: 10023,
  /** "insufficient storage resources available": a stream's `max_bytes` does not fit in the file store */
  StorageResourcesExceeded: 10047,
  /** "insufficient memory resources available": the same in the memory store */
  MemoryResourcesExceeded: 10028,
  /** "replicas > 1 not supported in non-clustered mode" */
  ReplicasNotSupported: 10074,
} as const;
export type JetStreamErrorCode = (typeof JetStreamErrorCode)[keyof typeof JetStreamErrorCode];

/** Whether `err` is a JetStream API error answer with one of `codes`. */
export function isJetStreamError(err: unknown, ...codes: readonly JetStreamErrorCode[]): boolean {
  return err instanceof JetStreamApiError && (codes as readonly number[]).includes(err.code);
}

/** Whether an `err_code` (from an error or a raw API answer) says an expected last sequence did not hold. */
export function isWrongLastSequence(code: number | undefined): boolean {
  return (
    code === JetStreamErrorCode.StreamWrongLastSequence ||
    code === JetStreamErrorCode.StreamWrongLastSequenceUnknown
  );
}

/** A request JetStream did not answer in time, or answered with "temporarily unavailable": try again. */
export function isJetStreamBusy(err: unknown): boolean {
  return err instanceof TimeoutError || isJetStreamError(err, JetStreamErrorCode.ClusterNotAvailable);
}
