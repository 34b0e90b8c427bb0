import * as v from "valibot";
import { option } from "../../options/option-spec.js";
import { int, Replicas, Storage, StreamName } from "../config/option-schemas.js";

/** Tracking's options (connection events, presence and the registry both use): part of `OPTION_SPECS`, in their place there. */
export const TRACKING_OPTIONS = {
  events: option({
    schema: v.boolean(),
    default: false,
    description:
      "Publish connection events (connected, disconnected, subscribed, unsubscribed) to a JetStream stream",
  }),
  eventsStream: option({
    schema: StreamName,
    default: "HERALD_EVENTS",
    description: "JetStream stream of connection events",
  }),
  eventsMaxAge: option({
    schema: int(1, 10 * 365 * 86400),
    default: 604_800,
    description: "Seconds a connection event is kept for backends to read",
  }),
  eventsMaxBytes: option({
    schema: int(0, Number.MAX_SAFE_INTEGER),
    default: 1024 ** 3,
    description: "Bytes of connection events kept, oldest dropped first; 0: no limit but their age",
  }),
  eventsSubscribeLimit: option({
    schema: int(1, 1_000_000),
    default: 60,
    description:
      "Subscribed and unsubscribed events stored per connection per minute; past it one dropped event says how many were not",
  }),
  eventsStorage: option({
    schema: Storage,
    default: "file",
    description: "Storage of the events stream and the connection registry: file or memory",
  }),
  eventsReplicas: option({
    schema: Replicas,
    default: "auto",
    description:
      "Replicas of the events stream and the connection registry, 1 to 5; auto: as --history-replicas",
  }),
  eventsDuplicateWindow: option({
    schema: int(1, 86_400),
    default: 120,
    description:
      "Seconds in which an event published twice is stored once; at least twice --liveness-timeout",
  }),
  presence: option({
    schema: v.boolean(),
    default: false,
    description: "Presence: who is in a channel (granted per channel at auth) and who is online",
  }),
  presenceJoinLeaveLimit: option({
    schema: int(0, 1_000_000),
    default: 100,
    description: "Members of a channel above which its join and leave frames stop",
  }),
  presenceInterval: option({
    schema: int(0, 60_000),
    default: 1000,
    description:
      "Least ms between two join/leave frames of one user in a channel, and between two writes of one registry shard; 0: no wait",
  }),
  presenceMaxListed: option({
    schema: int(1, 100_000),
    default: 1000,
    description: "Most members one presence answer lists (it says truncated beyond)",
  }),
  registryBucket: option({
    schema: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,48}$/, "must be 1-48 of A-Z a-z 0-9 _ -")),
    default: "HERALD_CONNECTIONS",
    description: "KV bucket of open connections (events, presence); liveness goes in <name>_LIVENESS",
  }),
  livenessTimeout: option({
    schema: int(1000, 600_000),
    default: 20_000,
    description:
      "ms without a heartbeat after which another gateway declares this one dead and publishes its disconnects",
  }),
};
