import type { NatsConnection } from "@nats-io/nats-core";
import * as v from "valibot";
import {
  ControlDisconnect,
  type ControlKind,
  ControlUnsubscribe,
  formatIssues,
  isSafeName,
  quote,
  type Subjects,
  UnsafeNameError,
} from "../protocol/index.js";
import { HeraldBackendError, NotConnectedError } from "./errors.js";

export interface DisconnectOptions {
  /**
   * true: the clients reconnect at once with a fresh token (rights changed, token rotated);
   * false (the default): they stop and do not come back (sign out everywhere, a ban).
   */
  reconnect?: boolean;
  /** Shown to the client in the error frame's message, quoted and cut to 64 characters. */
  reason?: string;
  /** ms to wait for the NATS server to confirm it has the message (default 5000). */
  timeout?: number;
}

/**
 * Publishes `<prefix>.control.disconnect` and resolves once the NATS server has it. Every gateway
 * connected to NATS at that moment closes the user's connections; a gateway cut off from NATS right
 * then misses it (a plain publish, nothing stores it), so revoke the user's tokens as well: its
 * clients' next connect is refused.
 */
export async function publishDisconnect(
  target: ControlTarget,
  user: string,
  options: DisconnectOptions,
): Promise<void> {
  if (!isSafeName(user)) throw new UnsafeNameError(String(user));
  const message: ControlDisconnect = { user };
  if (options.reconnect !== undefined) message.reconnect = options.reconnect;
  if (options.reason !== undefined) message.reason = options.reason;
  const checked = v.safeParse(ControlDisconnect, message);
  if (!checked.success)
    throw new HeraldBackendError("INVALID_OPTIONS", `invalid disconnect: ${formatIssues(checked.issues)}`);
  await publishControl(target, { kind: "disconnect", message: checked.output, timeoutMs: options.timeout });
}

/**
 * Publishes `<prefix>.control.unsubscribe` and resolves once the NATS server has it: every gateway
 * connected to NATS at that moment takes `channel` from the user's connections. A gateway cut off
 * right then misses it, so stop granting the channel to the user first.
 */
export async function publishUnsubscribe(
  target: ControlTarget,
  user: string,
  channel: string,
): Promise<void> {
  if (!isSafeName(user)) throw new UnsafeNameError(String(user));
  const checked = v.safeParse(ControlUnsubscribe, { user, channel });
  if (!checked.success) {
    throw new HeraldBackendError(
      "INVALID_CHANNEL",
      `cannot unsubscribe from ${quote(channel)}: a channel is channel.<name>, the name 1 to 128 characters from A-Z a-z 0-9 _ - : @ = +`,
    );
  }
  await publishControl(target, { kind: "unsubscribe", message: checked.output });
}

/** Where control messages go: the backend's connection and the gateways' subjects. */
export interface ControlTarget {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
}

interface ControlMessage {
  readonly kind: ControlKind;
  readonly message: unknown;
  /** How long the NATS server has to confirm it; 5 s unless given. */
  readonly timeoutMs?: number | undefined;
}

/** A plain publish of a control message, confirmed by the NATS server within `timeoutMs`. */
async function publishControl(
  { nc, subjects }: ControlTarget,
  { kind, message, timeoutMs = 5000 }: ControlMessage,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    nc.publish(subjects.control(kind), JSON.stringify(message));
    await Promise.race([
      nc.flush(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`NATS did not confirm it within ${timeoutMs} ms; it may still be sent`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    throw new NotConnectedError(`cannot publish the ${kind}: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}
