/**
 * Every `subscribe_error` code, with whether the same subscribe can succeed later (the client SDK
 * retries those with backoff). A `subscribe_error` never closes the connection. Kept apart from the
 * meanings below so the browser client carries only this.
 */
export const SUBSCRIBE_ERROR_RETRY = {
  INVALID_CHANNEL: false,
  ALREADY_SUBSCRIBED: false,
  TOO_MANY_SUBSCRIPTIONS: false,
  TOO_MANY_REQUESTS: true,
  TOO_MANY_FROM_ADDRESS: true,
  SUBSCRIBE_REFUSED: false,
  BACKEND_UNAVAILABLE: true,
  BACKEND_INVALID_REPLY: true,
} as const;

export type SubscribeErrorCode = keyof typeof SUBSCRIBE_ERROR_RETRY;
export const SUBSCRIBE_ERROR_CODES = Object.keys(SUBSCRIBE_ERROR_RETRY) as SubscribeErrorCode[];

/** What each code means: the table in docs/protocol.md (`npm run docs:tables`). */
export const SUBSCRIBE_ERROR_MEANINGS: Readonly<Record<SubscribeErrorCode, string>> = {
  INVALID_CHANNEL: "the channel is not `channel.<name>` with a name from the safe alphabet",
  ALREADY_SUBSCRIBED:
    "the connection already receives the channel (granted at auth, or subscribed), or is subscribing to it",
  TOO_MANY_SUBSCRIPTIONS:
    "the connection holds `--max-subscriptions` subscriptions (those under way included); unsubscribe first",
  TOO_MANY_REQUESTS:
    "`--max-subscribes-in-flight` subscribes of this connection are under way (one unsubscribed before the backend answered counts until it does); retry once one is answered",
  TOO_MANY_FROM_ADDRESS:
    "the client's address already has `--max-in-flight-per-ip` calls and subscribes waiting for the backend, from all its connections, those closed meanwhile included",
  SUBSCRIBE_REFUSED:
    "the backend refused (`reason` holds its code), or granted with an `expiresAt` that is not in the future (`reason: expired`)",
  BACKEND_UNAVAILABLE:
    "no backend answered `<prefix>.subscribe` (no responders, or no reply within `--subscribe-request-timeout`), it cannot decide now (`temporary: true`, or `Nats-Service-Error` headers), or NATS or the history stream is not reachable",
  BACKEND_INVALID_REPLY: "the backend's reply broke the schema",
};

/** Why the gateway took a channel away without being asked (`unsubscribed.reason`). */
export const UNSUBSCRIBE_REASONS = ["removed", "expired"] as const;
export type UnsubscribeReason = (typeof UNSUBSCRIBE_REASONS)[number];
