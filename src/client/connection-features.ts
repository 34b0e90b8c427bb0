import type { ReadyFrame } from "../protocol/server-frames.js";
import type { ConnectOptions, HeraldEvents } from "./connect-options.js";
import { MessageDelivery } from "./message-delivery.js";
import { PresenceRequests } from "./presence.js";
import { RpcCalls } from "./rpc.js";
import type { IncomingFrame } from "./server-frame.js";
import { SubscriptionRegistry } from "./subscription-registry.js";
import type { Transport } from "./websocket.js";

/** An event for the application's listeners: a message, or a member's join or leave. */
export type FeatureEvents = <K extends "message" | "join" | "leave">(
  event: K,
  payload: HeraldEvents[K],
) => void;

/**
 * What a ready connection carries besides its own upkeep: the application's messages (duplicates
 * dropped, gaps noticed), its subscriptions, its calls to the backend and its presence requests. The client keeps the
 * connection up and tells these when one is ready and when it ends; they keep their state across
 * connections.
 */
export class ConnectionFeatures {
  readonly delivery: MessageDelivery;
  readonly subscriptions: SubscriptionRegistry;
  readonly rpcs = new RpcCalls();
  readonly presence = new PresenceRequests();

  constructor(
    options: ConnectOptions,
    private readonly emit: FeatureEvents,
  ) {
    const recover = options.recover ?? true;
    this.subscriptions = new SubscriptionRegistry(recover, options.backoff);
    this.delivery = new MessageDelivery(recover, (frame) => emit("message", frame), this.subscriptions);
  }

  /**
   * A connection is ready on `transport`: calls waiting for one and every subscription go out on it.
   * True when messages of the channels granted at auth may have been missed since the last one (resync).
   */
  ready(frame: ReadyFrame, transport: Transport): boolean {
    const resync = this.delivery.ready(frame);
    this.rpcs.ready(transport, frame.maxFrameBytes);
    this.subscriptions.ready(frame, transport);
    return resync;
  }

  /** Takes the frames these parts answer; false for any other. */
  receive(frame: IncomingFrame): boolean {
    switch (frame.type) {
      case "rpc_result":
      case "rpc_error":
        this.rpcs.settle(frame);
        return true;
      case "presence":
      case "presence_error":
        this.presence.answered(frame);
        return true;
      case "join":
        this.emit("join", frame);
        return true;
      case "leave":
        this.emit("leave", frame);
        return true;
      case "unsubscribed":
        if (frame.reason) this.delivery.revoked(frame.channel);
        this.subscriptions.receive(frame);
        return true;
      case "subscribed":
      case "subscribe_error":
        this.subscriptions.receive(frame);
        return true;
      default:
        return false;
    }
  }

  /** The connection ended: calls and presence requests sent on it fail, subscriptions wait for the next one. */
  interrupted(): void {
    this.rpcs.interrupt();
    this.presence.lost();
    this.subscriptions.disconnected();
  }

  /** The client stopped on a failure retrying cannot fix: waiting calls fail; subscriptions stay. */
  stopped(): void {
    this.rpcs.stop();
  }

  /** The client closed for good: calls fail, subscriptions end, recovery positions are forgotten. */
  closed(): void {
    this.delivery.reset();
    this.subscriptions.close();
    this.rpcs.stop();
  }
}
