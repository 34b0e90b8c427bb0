import type { NatsConnection } from "@nats-io/nats-core";
import * as v from "valibot";
import {
  ControlDisconnect,
  formatIssues,
  isSafeName,
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
  nc: NatsConnection,
  subjects: Subjects,
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
  const timeoutMs = options.timeout ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  try {
    nc.publish(subjects.control("disconnect"), JSON.stringify(checked.output));
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
    throw new NotConnectedError(`cannot publish the disconnect: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}
