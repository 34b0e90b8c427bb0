export type { PresenceMember, PresenceSnapshot } from "../protocol/presence.js";
export type {
  JoinFrame,
  LeaveFrame,
  MessageFrame,
  ReadyFrame,
  SubscribedFrame,
} from "../protocol/server-frames.js";
export type { SubscribeErrorCode, UnsubscribeReason } from "../protocol/subscribe-errors.js";
export type { BackoffOptions } from "./backoff.js";
export { type ClientErrorCode, HeraldClientError, type HeraldErrorCode } from "./errors.js";
export type { Listener } from "./events.js";
export { type ConnectOptions, connect, HeraldClient, type HeraldEvents } from "./herald-client.js";
export type { EventSourceConstructor, EventSourceLike } from "./http-transports.js";
export { HeraldRpcError, type RpcErrorCode, type RpcOptions } from "./rpc.js";
export type { GatewayUnsubscribedFrame as UnsubscribedFrame } from "./server-frame.js";
export type { ClientState } from "./state.js";
export type { Subscription, SubscriptionEvents, SubscriptionState } from "./subscription.js";
export { type TransportName, useFallbacks } from "./transport-picker.js";
export type { WebSocketConstructor, WebSocketLike } from "./websocket.js";
