import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/nats-core";
import type { Requester, RequestReply } from "./requester.js";

interface Pending {
  readonly resolve: (reply: RequestReply) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Request/reply over one wildcard inbox subscription: each request publishes with a reply subject
 * `<inbox>.<n>` and waits on a map entry. It does what the client library's `request` does, without
 * creating an Error with a stack trace for every request — the largest cost of a connection storm.
 */
export class RequestMux implements Requester {
  private readonly inbox = `${createInbox()}.`;
  private readonly pending = new Map<string, Pending>();
  private readonly subscription: Subscription;
  private counter = 0;

  constructor(private readonly nc: NatsConnection) {
    this.subscription = nc.subscribe(`${this.inbox}*`, {
      callback: (err, msg) => {
        if (!err) this.settle(msg.subject.slice(this.inbox.length), msg);
      },
    });
  }

  request(subject: string, payload: Uint8Array, timeoutMs: number, headers?: MsgHdrs): Promise<RequestReply> {
    const token = (++this.counter).toString(36);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        resolve({ kind: "timeout" });
      }, timeoutMs);
      this.pending.set(token, { resolve, timer });
      try {
        this.nc.publish(
          subject,
          payload,
          headers ? { reply: this.inbox + token, headers } : { reply: this.inbox + token },
        );
      } catch (err) {
        this.pending.delete(token);
        clearTimeout(timer);
        resolve({ kind: "failed", message: (err as Error).message, cause: err });
      }
    });
  }

  private settle(token: string, msg: Msg): void {
    const waiting = this.pending.get(token);
    if (!waiting) return; // late reply after a timeout
    this.pending.delete(token);
    clearTimeout(waiting.timer);
    // The server answers a request nobody is subscribed to with an empty 503 status message.
    if (msg.headers?.code === 503 && msg.data.length === 0) waiting.resolve({ kind: "no_responders" });
    else waiting.resolve({ kind: "reply", msg });
  }

  close(): void {
    for (const [token, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.resolve({ kind: "failed", message: "gateway closing" });
      this.pending.delete(token);
    }
    if (!this.nc.isClosed()) this.subscription.unsubscribe();
  }
}
