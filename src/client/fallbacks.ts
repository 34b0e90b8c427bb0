import { type EventSourceConstructor, openHttpStream, openServerSentEvents } from "./http-transports.js";
import type { PickerContext, TransportName, TransportPicker } from "./transport-picker.js";
import type { Transport, TransportEvents } from "./websocket.js";

/** Every transport, best first: a WebSocket costs the gateway least and the client least latency. */
export const DEFAULT_TRANSPORTS: readonly TransportName[] = ["websocket", "http-stream", "sse"];
/** How long a fallback serves before the first transport is tried again, by default. */
const RETRY_FIRST_MS = 5 * 60_000;
/** Attempts a transport gets that open but end before any frame, or that worked on this page before. */
const STRIKES = 3;

/** What got `ready` on this page, per gateway URL, for the page's life: the next client starts there. */
const worked = new Map<string, TransportName>();

type Open = (url: string, events: TransportEvents, responded: () => void) => Transport;

/**
 * The transports of `connect({ transports })` in order. An attempt that ends before `ready` with no
 * frame from the gateway counts against its transport: one that did not even open (a WebSocket
 * whose upgrade a proxy refused, a POST that failed) is left at once, unless it worked on this page
 * before; one that opened but ended before any frame (a proxy that cuts upgraded connections), or
 * that worked before (the gateway may be restarting), after three such attempts in a row. Past the
 * last transport the first comes again. What got `ready` is remembered for the page's life; while a
 * fallback serves, the first transport is tried again every `retryFirstMs`: once it opens, the
 * client reconnects over it (recovering what it missed).
 */
export function pickWithFallbacks(context: PickerContext): TransportPicker {
  const { url, transports, retryFirstMs } = context.options;
  const EventSource =
    context.options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
  const opens: Record<TransportName, Open | undefined> = {
    websocket: (target, events, responded) =>
      context.webSocket(target, {
        ...events,
        opened() {
          responded();
          events.opened();
        },
      }),
    "http-stream": typeof fetch === "function" ? openHttpStream : undefined,
    sse: typeof fetch === "function" && EventSource ? openServerSentEvents(EventSource) : undefined,
  };
  const names = (transports ?? DEFAULT_TRANSPORTS).filter((name) => opens[name]);
  if (names.length === 0) names.push("websocket");
  let index = Math.max(0, names.indexOf(worked.get(url) ?? names[0]!));
  let strikes = 0;
  let opened = false;
  let retry: ReturnType<typeof setTimeout> | undefined;

  /** While a fallback serves: a WebSocket that opens now means the network lets them through. */
  const retryFirst = (): void => {
    clearTimeout(retry);
    if (index === 0 || names[0] !== "websocket") return;
    retry = setTimeout(() => {
      let switched = false;
      try {
        const probe: Transport = opens.websocket!(
          url,
          {
            opened() {},
            received() {},
            closed() {
              if (!switched) retryFirst();
            },
          },
          () => {
            switched = true;
            probe.close(1000, "transport check");
            index = 0;
            strikes = 0;
            context.switchBack();
          },
        );
      } catch {
        // a WebSocket that cannot even be made will not be tried again
      }
    }, retryFirstMs ?? RETRY_FIRST_MS);
  };

  return {
    get current() {
      return names[index]!;
    },
    open(target, events) {
      opened = false;
      return opens[names[index]!]!(target, events, () => {
        opened = true;
      });
    },
    ready() {
      worked.set(url, names[index]!);
      strikes = 0;
      if (index > 0) retryFirst();
    },
    failed(heard) {
      // The gateway answered on it (an error frame): the transport works, the attempt did not.
      if (heard) {
        strikes = 0;
        return;
      }
      const limit = opened || worked.get(url) === names[index] ? STRIKES : 1;
      if (++strikes < limit) return;
      strikes = 0;
      index = (index + 1) % names.length;
    },
    stop() {
      clearTimeout(retry);
    },
  };
}
