import type {
  JoinFrame,
  LeaveFrame,
  MessageFrame,
  PresenceErrorFrame,
  PresenceFrame,
  ReadyFrame,
  RefreshedFrame,
  RpcResultFrame,
  SubscribedFrame,
  TokenExpiringFrame,
} from "../protocol/server-frames.js";
import type { UnsubscribeReason } from "../protocol/subscribe-errors.js";
import type { GatewayRpcErrorFrame } from "./rpc.js";

/**
 * Frames from the gateway, checked by small hand-written guards that mirror the valibot schemas in
 * src/protocol/server-frames.ts (test/client/server-frame.test.ts holds both to the same answers).
 * Running those schemas here would pull valibot into the browser bundle: about 2.7 KB gzipped of its
 * 6.25 KB budget. The types still come from the schemas.
 * An error or rpc_error frame's `code` is accepted as any string so a newer gateway's codes still
 * reach the app.
 */
export type GatewayErrorFrame = { type: "error"; code: string; message: string; reason?: string };
/** Likewise an `unsubscribed` frame's `reason`. */
export type GatewayUnsubscribedFrame = {
  type: "unsubscribed";
  channel: string;
  reason?: UnsubscribeReason | (string & {});
};
/** Likewise a `subscribe_error`'s `code`. */
export type GatewaySubscribeErrorFrame = {
  type: "subscribe_error";
  channel: string;
  code: string;
  message: string;
  reason?: string;
};

export type IncomingFrame =
  | ReadyFrame
  | MessageFrame
  | GatewayErrorFrame
  | TokenExpiringFrame
  | RefreshedFrame
  | PresenceFrame
  | PresenceErrorFrame
  | JoinFrame
  | LeaveFrame
  | { type: "ping" }
  | { type: "pong" }
  | RpcResultFrame
  | GatewayRpcErrorFrame
  | SubscribedFrame
  | GatewaySubscribeErrorFrame
  | GatewayUnsubscribedFrame;

type Fields = Record<string, unknown>;

const isString = (value: unknown): value is string => typeof value === "string";
const isNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);
const isBoolean = (value: unknown): value is boolean => typeof value === "boolean";
const isSequence = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0;
const optional =
  (guard: (value: unknown) => boolean) =>
  (value: unknown): boolean =>
    value === undefined || guard(value);

/** Field guards per frame type; a frame must pass every one of its type's guards. */
const SHAPES: Record<string, Record<string, (value: unknown) => boolean>> = {
  ready: {
    user: isString,
    connection: isString,
    gateway: isString,
    channels: (value) => Array.isArray(value) && value.every(isString),
    heartbeat: (value) => isNumber(value) && value > 0,
    maxFrameBytes: optional((value) => Number.isInteger(value) && (value as number) > 0),
    expiresAt: optional(isNumber),
    epoch: optional(isString),
    positions: optional(
      (value) => typeof value === "object" && value !== null && Object.values(value).every(isNumber),
    ),
    recovered: optional(isBoolean),
    presence: optional((value) => Array.isArray(value) && value.every(isString)),
  },
  message: { channel: isString, seq: optional(isSequence), prev: optional(isSequence) },
  error: { code: isString, message: isString, reason: optional(isString) },
  token_expiring: { expiresAt: isNumber },
  refreshed: { expiresAt: optional(isNumber) },
  ping: {},
  pong: {},
  rpc_result: { id: isSequence },
  rpc_error: { id: isSequence, code: isString, message: isString, reason: optional(isString) },
  presence: { channel: isString, count: isNumber, members: Array.isArray },
  presence_error: { channel: isString, code: isString, message: isString },
  join: { channel: isString, user: isString },
  leave: { channel: isString, user: isString },
  subscribed: {
    channel: isString,
    position: optional(isSequence),
    recovered: optional(isBoolean),
    presence: optional(isBoolean),
  },
  subscribe_error: { channel: isString, code: isString, message: isString, reason: optional(isString) },
  unsubscribed: { channel: isString, reason: optional(isString) },
};

/** Parses one text frame; undefined when it is not JSON or not a frame this client knows. */
export function parseServerFrame(data: unknown): IncomingFrame | undefined {
  if (!isString(data)) return undefined;
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof frame !== "object" || frame === null) return undefined;
  const fields = frame as Fields;
  const shape = isString(fields.type) && Object.hasOwn(SHAPES, fields.type) ? SHAPES[fields.type] : undefined;
  if (!shape) return undefined;
  for (const key in shape) if (!shape[key]!(fields[key])) return undefined;
  return frame as IncomingFrame;
}
