interface EventTargetLike {
  addEventListener?: (type: string, listener: () => void) => void;
  removeEventListener?: (type: string, listener: () => void) => void;
}

/**
 * The browser's `online` event, where there is one (not in Node): a client waiting out a backoff
 * delay can reconnect as soon as the network is back.
 */
export function watchOnline(listener: () => void, on: boolean): void {
  const target = globalThis as EventTargetLike;
  if (typeof target.addEventListener !== "function" || typeof target.removeEventListener !== "function")
    return;
  if (on) target.addEventListener("online", listener);
  else target.removeEventListener("online", listener);
}
