import type { Logger } from "../logger.js";

/** Refusals by client address, by the reason `herald_refused_upgrades_total` counts them under. */
export type AddressRefusal =
  | "max_connections_per_ip"
  | "connect_rate_per_ip"
  | "pending_per_ip"
  | "proxy_header";

const SHARED_ADDRESS =
  "If many users share this address (a carrier or office NAT, or a load balancer that does not pass the client's address), " +
  "list the HTTP proxy that sets X-Forwarded-For in --trusted-proxies, or set --proxy-protocol for an L4 balancer that sends PROXY headers, " +
  "or raise the limit";

/** What each warning says it saw (given the limit's value, or what was wrong) and what to change. */
const MESSAGES: Record<AddressRefusal, (address: string, detail: string | number) => string> = {
  max_connections_per_ip: (address, limit) =>
    `connections refused from ${address}: it holds ${limit} connections (--max-connections-per-ip). ${SHARED_ADDRESS}`,
  connect_rate_per_ip: (address, rate) =>
    `connections refused from ${address}: it opens new ones faster than ${rate}/s beyond --connect-burst-per-ip (--connect-rate-per-ip). ${SHARED_ADDRESS}`,
  pending_per_ip: (address, limit) =>
    `connections refused from ${address}: it holds ${limit} sockets that have not sent their request yet, a quarter of --max-connections. ${SHARED_ADDRESS}`,
  proxy_header: (address, why) =>
    `connection from ${address} refused: ${why}. A PROXY protocol header is read only with --proxy-protocol, and only from --trusted-proxies, ` +
    "which must then all send one (HAProxy send-proxy-v2, an NLB with proxy protocol v2 on)",
};

/** Addresses counted per window; a storm from more addresses than this is summed, not listed. */
const MAX_TRACKED = 1000;

interface Window {
  refused: number;
  readonly byAddress: Map<string, number>;
  detail: string | number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The warning an operator sees when a limit refuses a client address: at most one line per reason
 * per `windowMs`, naming the address refused most, how often, from how many addresses, and what to
 * change. The first refusal after a quiet window is logged at once; the rest of a window is summed
 * into one line at its end.
 */
export class RefusalLog {
  private readonly windows = new Map<AddressRefusal, Window>();

  constructor(
    private readonly logger: Logger,
    private readonly windowMs = 10_000,
  ) {}

  /** `detail`: the limit's value, or what was wrong with the connection. */
  refused(reason: AddressRefusal, address: string, detail: string | number): void {
    const open = this.windows.get(reason);
    if (open) {
      open.refused++;
      open.detail = detail;
      const count = open.byAddress.get(address);
      if (count !== undefined || open.byAddress.size < MAX_TRACKED)
        open.byAddress.set(address, (count ?? 0) + 1);
      return;
    }
    this.warn(reason, address, detail, 1, 1);
    const window: Window = { refused: 0, byAddress: new Map(), detail, timer: undefined };
    this.windows.set(reason, window);
    const flush = () => {
      if (window.refused === 0) {
        this.windows.delete(reason);
        return;
      }
      let top = address;
      let topCount = 0;
      for (const [candidate, count] of window.byAddress)
        if (count > topCount) [top, topCount] = [candidate, count];
      this.warn(reason, top, window.detail, window.refused, window.byAddress.size);
      window.refused = 0;
      window.byAddress.clear();
      window.timer = setTimeout(flush, this.windowMs).unref();
    };
    window.timer = setTimeout(flush, this.windowMs).unref();
  }

  /** Stops the timers (the gateway is closing); what is not logged yet stays unlogged. */
  close(): void {
    for (const window of this.windows.values()) clearTimeout(window.timer);
    this.windows.clear();
  }

  private warn(
    reason: AddressRefusal,
    address: string,
    detail: string | number,
    refused: number,
    addresses: number,
  ): void {
    this.logger.warn(
      { reason, address, refused, addresses, windowMs: this.windowMs },
      MESSAGES[reason](address, detail),
    );
  }
}
