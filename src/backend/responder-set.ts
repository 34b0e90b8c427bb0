import { HeraldBackendError, NotConnectedError } from "./errors.js";
import type { Report, Responder, ResponderOptions, ResponderSettings } from "./request-responder.js";

/**
 * The responders a backend runs: their settings (queue group checked, onError defaulted), the rpc
 * methods already served, and stopping them all on close().
 */
export class ResponderSet {
  readonly #responders = new Set<Responder>();
  /** Methods this backend answers, so one is not served twice by accident. */
  readonly #methods = new Set<string>();

  constructor(
    private readonly isClosed: () => boolean,
    private readonly onError: Report,
  ) {}

  /** The options with their defaults, checked before anything subscribes. */
  settings(options: ResponderOptions, defaultQueue: string): ResponderSettings {
    const queue = options.queue ?? defaultQueue;
    if (!/^[A-Za-z0-9_\-:@=+.]{1,128}$/.test(queue)) {
      throw new HeraldBackendError("INVALID_OPTIONS", `invalid queue group name ${JSON.stringify(queue)}`);
    }
    if (this.isClosed()) throw new NotConnectedError("the NATS connection is closed");
    return { queue, onError: options.onError ?? this.onError };
  }

  /** Throws when `method` is served already. */
  checkMethod(method: string): void {
    if (this.#methods.has(method)) {
      throw new HeraldBackendError("INVALID_OPTIONS", `the method ${method} is already served`);
    }
  }

  /** Keeps a responder for stopAll(); its stop() also lets go of it (and of its rpc method). */
  track<R extends Responder>(responder: R, method?: string): R {
    if (method !== undefined) this.#methods.add(method);
    const stop = responder.stop;
    const tracked: R = {
      ...responder,
      stop: async () => {
        this.#responders.delete(tracked);
        if (method !== undefined) this.#methods.delete(method);
        await stop();
      },
    };
    this.#responders.add(tracked);
    return tracked;
  }

  /** Stops every responder, each answering the requests it already received. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#responders].map((responder) => responder.stop()));
  }
}
