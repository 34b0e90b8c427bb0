/** One simulated browser tab as the load generator sees it, whatever system it talks to. */
export interface ClientEvents {
  /** Authenticated and subscribed: notifications for this user can arrive. */
  onReady(): void;
  /** A notification: its run and the publisher's monotonic timestamp. */
  onNotification(run: number, sentNs: number): void;
  /** A notification whose stamp could not be read. */
  onStray(): void;
  /** The connection failed or closed; `reason` is short and groupable (e.g. "close 1013"). */
  onGone(reason: string): void;
}

export interface ClientOptions {
  readonly url: string;
  readonly user: string;
  readonly localAddress: string;
}

export interface BenchClient {
  /** Drops the connection at once (the end of a run: no close handshake needed). */
  terminate(): void;
  /** Stops reading from the socket (a stalled consumer): the kernel's buffers, then the server's, fill up. */
  pause(): void;
  /** Reads again. */
  resume(): void;
}

export type ClientFactory = (options: ClientOptions, events: ClientEvents) => BenchClient;
