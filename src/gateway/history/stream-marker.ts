import { randomBytes } from "node:crypto";
import {
  type Msg,
  type NatsConnection,
  PermissionViolationError,
  RequestError,
  type Subscription,
  TimeoutError,
} from "@nats-io/nats-core";
import type { Subjects } from "../../protocol/index.js";
import type { Logger } from "../logger.js";
import { liveSequence } from "./live-sequence.js";

/**
 * How long a marker may take to come back before the joins waiting for it fail: longer than a
 * stream-leader election (4.1 to 8.7 s measured on nats-server 2.9), during which none is stored.
 */
const MARKER_TIMEOUT_MS = 10_000;
/** One attempt to store the marker waits this long for the stream's answer. */
const ATTEMPT_TIMEOUT_MS = 1000;
/** While no stream answers (an election), the marker is sent again this often. */
const RESEND_MS = 250;
const PROCESS_TAG = randomBytes(4).toString("hex");

interface Pending {
  readonly id: string;
  readonly promise: Promise<number>;
  resolve(seq: number): void;
  reject(err: Error): void;
  timer?: NodeJS.Timeout;
}

/**
 * A proof of order through the history stream. The gateway publishes a marker to its own subject
 * in the stream; the stream stores it and republishes it, like any message, after every message
 * stored before it and on the same path to this connection. So when the marker's live copy arrives
 * (with its stream sequence `m`):
 * - every subscription this connection sent before the marker was live at the server before the
 *   marker was stored (the server handles a connection's SUB and PUB in order), and
 * - the live copy of every message stored before `m` that such a subscription matches has arrived.
 * For a channel whose subscription got nothing before the marker, `m` is therefore a position that
 * is at or after the channel's last stored message and before anything it will deliver.
 * Joins of one event-loop turn share one marker; no JetStream API request is made.
 */
export interface StreamMarkerOptions {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  /** The gateway's id: its markers' subject is its own. */
  readonly gatewayId: string;
  readonly logger: Logger;
  /** Called when a marker did not come back in time (e.g. the stream no longer captures it). */
  readonly onLost: () => void;
  /** For tests: awaited before each marker is published. */
  readonly beforePublish?: (() => Promise<void>) | undefined;
}

export class StreamMarker {
  private readonly pending = new Map<string, Pending>();
  private next: Pending | undefined;
  private counter = 0;
  private closed = false;
  private readonly subscription: Subscription;

  private readonly subject: string;
  private readonly nc: NatsConnection;
  private readonly logger: Logger;
  private readonly onLost: () => void;
  private readonly beforePublish: (() => Promise<void>) | undefined;

  constructor({ nc, subjects, gatewayId, logger, onLost, beforePublish }: StreamMarkerOptions) {
    this.nc = nc;
    this.logger = logger;
    this.onLost = onLost;
    this.beforePublish = beforePublish;
    this.subject = subjects.marker(gatewayId);
    this.subscription = nc.subscribe(subjects.liveMarker(gatewayId), {
      callback: (err, msg) => {
        if (!err) this.arrived(msg);
      },
    });
  }

  /**
   * An asynchronous error the server reported on this connection (its `NatsLink` tells). A marker
   * the server refuses to take will not come back: fail its joins now, saying why.
   */
  serverError(err: Error): void {
    if (this.closed) return;
    if (
      err instanceof PermissionViolationError &&
      err.operation === "publish" &&
      err.subject.toLowerCase() === this.subject.toLowerCase()
    ) {
      for (const id of [...this.pending.keys()]) this.settle(id, undefined, this.refused());
    }
  }

  private refused(): Error {
    return new Error(`not allowed to publish to ${this.subject}`);
  }

  /** The stream sequence of a marker published after this call (in the next turn of the event loop). */
  pass(): Promise<number> {
    if (this.next) return this.next.promise;
    let resolve!: (seq: number) => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<number>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const pending: Pending = { id: `${PROCESS_TAG}-${++this.counter}`, promise, resolve, reject };
    this.next = pending;
    setImmediate(() => {
      if (!this.beforePublish) return this.publish(pending);
      this.beforePublish().then(
        () => this.publish(pending),
        () => this.publish(pending),
      );
    });
    return promise;
  }

  private publish(pending: Pending): void {
    if (this.closed) return;
    this.next = undefined;
    this.pending.set(pending.id, pending);
    pending.timer = setTimeout(() => {
      this.settle(pending.id, undefined);
      this.onLost();
    }, MARKER_TIMEOUT_MS);
    pending.timer.unref();
    void this.send(pending);
  }

  /**
   * Sends the marker as a JetStream publish, so the stream's answer says whether it stored it. No
   * responders means nothing stored it: while the stream elects a leader nothing is stored at all,
   * so the marker goes again every RESEND_MS until a leader stores it (then its live copy settles the
   * joins) or the marker's time is up. A join made during an election thus waits for the new leader
   * instead of failing.
   */
  private async send(pending: Pending): Promise<void> {
    while (!this.closed && this.pending.has(pending.id)) {
      try {
        await this.nc.request(this.subject, pending.id, { timeout: ATTEMPT_TIMEOUT_MS });
        return; // stored: its live copy settles the joins
      } catch (err) {
        if (err instanceof RequestError && err.isNoResponders()) {
          await new Promise((resolve) => setTimeout(resolve, RESEND_MS));
        } else if (!(err instanceof TimeoutError)) {
          const refused =
            err instanceof PermissionViolationError ||
            (err instanceof Error && err.cause instanceof PermissionViolationError);
          this.settle(pending.id, undefined, refused ? this.refused() : (err as Error));
          return;
        }
        // a timeout: the answer was lost or the leader is slow; sending again stores at worst a
        // second marker, whose live copy finds nothing waiting
      }
    }
  }

  private arrived(msg: Msg): void {
    const id = msg.string();
    if (!this.pending.has(id)) return; // another process of the same gateway id, or timed out
    const seq = liveSequence(msg)?.seq;
    if (seq === undefined) this.logger.warn("position marker without a stream sequence");
    this.settle(id, seq);
  }

  private settle(id: string, seq: number | undefined, err?: Error): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (seq !== undefined) return pending.resolve(seq);
    pending.reject(err ?? new Error("the history stream did not return a position marker in time"));
  }

  close(): void {
    this.closed = true;
    if (!this.nc.isClosed()) this.subscription.unsubscribe();
    for (const id of [...this.pending.keys()]) this.settle(id, undefined, new Error("gateway closing"));
    this.next?.reject(new Error("gateway closing"));
    this.next = undefined;
  }
}
