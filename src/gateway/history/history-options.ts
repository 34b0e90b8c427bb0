import * as v from "valibot";
import { option } from "../../options/option-spec.js";
import { int, Replicas, Storage, StreamName } from "../config/option-schemas.js";

/** The history stream and recovery from it: options of `OPTION_SPECS`, in their place there. */
export const HISTORY_OPTIONS = {
  history: option({
    schema: v.boolean(),
    default: true,
    description: "Keep history in JetStream for recovery (false: at-most-once)",
  }),
  historyStream: option({
    schema: StreamName,
    default: "HERALD",
    description: "JetStream stream name",
  }),
  historyMaxAge: option({
    schema: int(1, 10 * 365 * 86400),
    default: 86_400,
    description: "Seconds a message stays recoverable",
  }),
  historyMaxPerSubject: option({
    schema: int(1, 10_000_000),
    default: 1000,
    description: "Messages kept per user or channel",
  }),
  historyStorage: option({
    schema: Storage,
    default: "file",
    description: "Stream storage: file or memory",
  }),
  historyReplicas: option({
    schema: Replicas,
    default: "auto",
    description: "Stream replicas, 1 to 5; auto: 3 on a JetStream cluster of 3 or more servers, else 1",
  }),
  recoveryMaxMessages: option({
    schema: int(0, 1_000_000),
    default: 300,
    description: "Most missed messages replayed on reconnect; more gives recovered: false (refetch)",
  }),
  recoveryBufferBytes: option({
    schema: int(65_536, 16 * 1024 * 1024 * 1024),
    default: 67_108_864,
    description: "History bytes held in memory at once for all recovering clients; more wait their turn",
  }),
};
