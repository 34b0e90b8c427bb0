// The real clock, taken before any test fakes timers: waiting on real sockets and processes needs it.
const realSetTimeout = globalThis.setTimeout;
const now = () => performance.now();

export interface PollOptions {
  /** Give up after this long (default 5 s). */
  readonly timeoutMs?: number;
  /** Between two looks (default 10 ms). */
  readonly intervalMs?: number;
}

/**
 * The one poll of the tests, the bench and the local nats-server: resolves once `condition` holds
 * (it may be async), or throws after `timeoutMs` naming `what`. Waits for a state, never for a
 * fixed time. A condition that throws ends the wait with its error. Runs on the real clock, also
 * while a test fakes timers.
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  what: string,
  options: PollOptions = {},
): Promise<void> {
  await pollFor(async () => ((await condition()) ? true : undefined), what, options);
}

/** Like `waitUntil`, for a value: resolves with the first one `probe` gives that is not undefined. */
export async function pollFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  { timeoutMs = 5000, intervalMs = 10 }: PollOptions = {},
): Promise<T> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => realSetTimeout(resolve, intervalMs));
  }
}

/** The usual condition: `url` answers 2xx now (false while nothing listens or it does not answer in time). */
export async function answersOk(url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })).ok;
  } catch {
    return false;
  }
}
