import { isSafeName } from "./names.js";

/**
 * Channels as clients see them: `user.<id>` for a user's personal channel, `channel.<name>` for a
 * shared one. The NATS subject is always `<prefix>.<channel>`; the live copy of a stored message
 * (history on) is `<prefix>.live.<channel>`.
 */
export type ChannelKind = "user" | "channel";

export class UnsafeNameError extends Error {
  override readonly name = "UnsafeNameError";
  readonly code = "UNSAFE_NAME";
  constructor(readonly value: string) {
    super(
      `unsafe name ${JSON.stringify(value)}: names must be 1 to 128 characters from A-Z a-z 0-9 _ - : @ = +`,
    );
  }
}

function checked(name: string): string {
  if (!isSafeName(name)) throw new UnsafeNameError(name);
  return name;
}

export function userChannel(userId: string): string {
  return `user.${checked(userId)}`;
}

export function sharedChannel(name: string): string {
  return `channel.${checked(name)}`;
}

/** Parses `user.<id>` or `channel.<name>`; returns undefined for anything else. */
export function parseChannel(channel: string): { kind: ChannelKind; name: string } | undefined {
  const dot = channel.indexOf(".");
  if (dot < 0) return undefined;
  const kind = channel.slice(0, dot);
  const name = channel.slice(dot + 1);
  if ((kind !== "user" && kind !== "channel") || !isSafeName(name)) return undefined;
  return { kind, name };
}

/** Whether a client may `subscribe` to a channel: `channel.<name>` with a safe name. */
export function isSharedChannel(channel: unknown): channel is string {
  return typeof channel === "string" && parseChannel(channel)?.kind === "channel";
}

/** The kinds of control message, as the subject's last token (`<prefix>.control.<kind>`). */
export const CONTROL_KINDS = ["disconnect", "unsubscribe"] as const;
export type ControlKind = (typeof CONTROL_KINDS)[number];

export interface Subjects {
  /** Request/reply subject the backend answers auth requests on. */
  readonly auth: string;
  /** Request/reply subject the backend answers per-channel subscribe requests on. */
  readonly subscribe: string;
  /** Where a backend publishes for one user. */
  user(userId: string): string;
  /** Where a backend publishes for a shared channel. */
  channel(name: string): string;
  /** The subject of a client-facing channel (`user.1` -> `herald.user.1`). */
  ofChannel(channel: string): string;
  /** The live (republished, sequence-stamped) copy of a channel's subject when history is on. */
  liveOf(channel: string): string;
  /**
   * Where a gateway publishes its position markers into the history stream (history on), and the
   * live copy it gets back: see `StreamMarker`. `gatewayId` is the gateway's id.
   */
  marker(gatewayId: string): string;
  liveMarker(gatewayId: string): string;
  /** Request/reply subject a client's call of `method` goes to. */
  rpc(method: string): string;
  /** Where a backend publishes a control message of one kind (`disconnect`, …). */
  control(kind: ControlKind): string;
  /** What every gateway subscribes to for control messages: `<prefix>.control.>`. */
  readonly controlAll: string;
  /**
   * Where other gateways pass on what belongs to one gateway's HTTP streams (`gatewayId`: its id):
   * `send`, an upstream POST's body; `ticket`, an SSE ticket to take.
   */
  gateway(gatewayId: string, kind: "send" | "ticket"): string;
  /** Wildcards the history stream captures. */
  readonly streamSubjects: readonly string[];
  /** RePublish source and destination for the history stream. */
  readonly republish: { readonly src: string; readonly dest: string };
}

export function subjectsFor(prefix: string): Subjects {
  return {
    auth: `${prefix}.auth`,
    subscribe: `${prefix}.subscribe`,
    user: (userId) => `${prefix}.${userChannel(userId)}`,
    channel: (name) => `${prefix}.${sharedChannel(name)}`,
    ofChannel: (channel) => `${prefix}.${checkedChannel(channel)}`,
    liveOf: (channel) => `${prefix}.live.${checkedChannel(channel)}`,
    marker: (gatewayId) => `${prefix}.marker.${gatewayId}`,
    liveMarker: (gatewayId) => `${prefix}.live.marker.${gatewayId}`,
    rpc: (method) => `${prefix}.rpc.${checked(method)}`,
    control: (kind) => `${prefix}.control.${kind}`,
    controlAll: `${prefix}.control.>`,
    gateway: (gatewayId, kind) => `${prefix}.gateway.${gatewayId}.${kind}`,
    streamSubjects: [`${prefix}.user.>`, `${prefix}.channel.>`, `${prefix}.marker.>`],
    republish: { src: `${prefix}.>`, dest: `${prefix}.live.>` },
  };
}

function checkedChannel(channel: string): string {
  if (!parseChannel(channel)) throw new UnsafeNameError(channel);
  return channel;
}
