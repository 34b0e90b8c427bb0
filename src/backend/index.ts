export {
  type Acceptance,
  type AuthContext,
  type AuthDecision,
  type AuthHandler,
  type AuthResponder,
  accept,
  type RefusalOptions,
  refuse,
  type ServeAuthOptions,
} from "./auth-responder.js";
export type { DisconnectOptions } from "./control.js";
export {
  HeraldBackendError,
  type HeraldBackendErrorCode,
  InvalidPayloadError,
  isHeraldBackendError,
  NoStreamError,
  NotConnectedError,
  PublishFailedError,
  PublishTimeoutError,
  UnsafeNameError,
} from "./errors.js";
export type {
  EventConsumerOptions,
  EventHandler,
  EventSubscription,
  StoredConnectionEvent,
} from "./event-consumer.js";
export { HeraldBackend, type HeraldBackendOptions, type HeraldConnectOptions } from "./herald-backend.js";
export type {
  InboxMark,
  InboxPage,
  InboxPageOptions,
  InboxRequestOptions,
  Notified,
  NotifyOptions,
  UnreadCount,
} from "./inbox-client.js";
export type { PresenceRequestOptions } from "./presence-client.js";
export {
  DEFAULT_PUBLISH_TIMEOUT_MS,
  encodePayload,
  type PublishOptions,
  type PublishResult,
  type PublishTarget,
  type SentMessage,
  type StoredMessage,
  type StoredPublishOptions,
} from "./publisher.js";
export type { Responder, ResponderOptions } from "./request-responder.js";
export {
  type RpcContext,
  type RpcHandler,
  RpcRefusal,
  type RpcResponder,
  type ServeRpcOptions,
} from "./rpc-responder.js";
export {
  type GrantOptions,
  grant,
  type OnSubscribeOptions,
  type SubscribeContext,
  type SubscribeDecision,
  type SubscribeHandler,
  type SubscribeResponder,
} from "./subscribe-responder.js";
export type { StoredUnseenEvent, UnseenConsumerOptions, UnseenHandler } from "./unseen-consumer.js";
