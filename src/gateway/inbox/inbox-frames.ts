import type { InboxChanged, InboxErrorCode, InboxItem } from "../../protocol/index.js";
import { isJson } from "../delivery/message-frame.js";
import { OutboundFrame } from "../delivery/outbound-frame.js";

const lenientUtf8 = new TextDecoder("utf-8");

/**
 * A `notification` frame, built once for every connection of the user: a payload that is valid
 * UTF-8 JSON is spliced in untouched, anything else becomes a JSON string (as for `message`).
 */
export function notificationFrame(id: number, time: number, payload: Uint8Array): OutboundFrame {
  return OutboundFrame.concat([
    Buffer.from(`{"type":"notification","id":${id},"time":${time},"data":`),
    payloadJson(payload),
    CLOSE,
  ]);
}

/** A payload as the JSON value a frame carries. */
export function payloadValue(payload: Uint8Array): unknown {
  return JSON.parse(payloadJson(payload).toString("utf8"));
}

function payloadJson(payload: Uint8Array): Buffer {
  return isJson(payload)
    ? Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
    : Buffer.from(JSON.stringify(lenientUtf8.decode(payload)));
}

const CLOSE = Buffer.from("}");

/** What an `inbox` frame says besides the count. */
export interface InboxFrameExtras {
  readonly epoch?: string;
  readonly position?: number;
  readonly recovered?: boolean;
}

export function inboxFrame(
  count: UnreadCount,
  changed: readonly InboxChanged[],
  extras: InboxFrameExtras = {},
): OutboundFrame {
  return OutboundFrame.of({
    type: "inbox",
    unread: count.unread,
    ...(count.capped ? { capped: true } : {}),
    changed,
    ...extras,
  });
}

export function pageFrame(id: number, items: InboxItem[], count: UnreadCount, more: boolean): OutboundFrame {
  return OutboundFrame.of({
    type: "inbox_page",
    id,
    items,
    unread: count.unread,
    ...(count.capped ? { capped: true } : {}),
    more,
  });
}

export function markedFrame(id: number): OutboundFrame {
  return OutboundFrame.of({ type: "inbox_marked", id });
}

export function inboxErrorFrame(id: number, code: InboxErrorCode, message: string): OutboundFrame {
  return OutboundFrame.of({ type: "inbox_error", id, code, message });
}

/** An unread count: exact up to the cap; `capped` when there are more than the cap. */
export interface UnreadCount {
  readonly unread: number;
  readonly capped: boolean;
}
