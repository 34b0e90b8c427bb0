/**
 * Which page origins may open a WebSocket. Browsers always send `Origin` on a WebSocket upgrade and a
 * page cannot forge it, so checking it stops cross-site WebSocket hijacking (a page elsewhere riding
 * the user's cookies). Clients that are not browsers send no `Origin`; they could send any, so a
 * missing one is let through. An empty list allows every origin.
 */
export class OriginPolicy {
  private readonly exact = new Set<string>();
  private readonly patterns: RegExp[] = [];

  constructor(readonly allowed: readonly string[]) {
    for (const entry of allowed) {
      const origin = entry.toLowerCase();
      if (origin.includes("*")) this.patterns.push(toPattern(origin));
      else this.exact.add(origin);
    }
  }

  get allowsAll(): boolean {
    return this.allowed.length === 0;
  }

  allows(origin: string | undefined): boolean {
    if (origin === undefined || this.allowsAll) return true;
    const value = origin.toLowerCase();
    return this.exact.has(value) || this.patterns.some((pattern) => pattern.test(value));
  }
}

/** `https://*.example.com` matches `https://a.example.com` and `https://a.b.example.com`, not `https://example.com`. */
function toPattern(origin: string): RegExp {
  const parts = origin.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"));
  return new RegExp(`^${parts.join("[a-z0-9-]+(?:\\.[a-z0-9-]+)*")}$`);
}

/** An allowed-origins entry: `scheme://host[:port]`, where `*.` may stand for any subdomains. */
export const ORIGIN_PATTERN = /^(https?):\/\/(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*(:\d{1,5})?$/i;
