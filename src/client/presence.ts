import type { ClientFrame } from "../protocol/client-frames.js";
import type { PresenceSnapshot } from "../protocol/presence.js";
import type { PresenceErrorFrame, PresenceFrame } from "../protocol/server-frames.js";
import { HeraldClientError } from "./errors.js";
import type { Transport } from "./websocket.js";

interface Waiter {
  resolve(snapshot: PresenceSnapshot): void;
  reject(error: HeraldClientError): void;
}

/**
 * The client's `presence(channel)` requests: each waits for the gateway's `presence` (or
 * `presence_error`) frame of its channel; requests for one channel at once share one frame.
 */
export class PresenceRequests {
  private readonly waiting = new Map<string, Waiter[]>();

  /** Asks on `ready`, the ready connection's transport (undefined while there is none). */
  request(channel: string, ready: Transport | undefined): Promise<PresenceSnapshot> {
    return new Promise((resolve, reject) => {
      const waiters = this.waiting.get(channel);
      if (waiters) return void waiters.push({ resolve, reject });
      if (!ready?.send(JSON.stringify({ type: "presence", channel } satisfies ClientFrame)))
        return reject(new HeraldClientError("NOT_READY", "presence needs a ready connection"));
      this.waiting.set(channel, [{ resolve, reject }]);
    });
  }

  answered(frame: PresenceFrame | PresenceErrorFrame): void {
    const waiters = this.waiting.get(frame.channel) ?? [];
    this.waiting.delete(frame.channel);
    for (const waiter of waiters) {
      if (frame.type === "presence") {
        const { type: _type, channel: _channel, ...snapshot } = frame;
        waiter.resolve(snapshot);
      } else
        waiter.reject(
          new HeraldClientError(frame.code, frame.message, { retryable: frame.code !== "NOT_GRANTED" }),
        );
    }
  }

  /** The connection ended: no answer will come on it. */
  lost(): void {
    const waiters = [...this.waiting.values()].flat();
    this.waiting.clear();
    for (const waiter of waiters)
      waiter.reject(
        new HeraldClientError("CONNECTION_LOST", "the connection ended before presence was answered"),
      );
  }
}
