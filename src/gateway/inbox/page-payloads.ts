import { INBOX_LIST_MAX } from "../../protocol/index.js";
import type { StoredNotification } from "./inbox-store.js";

/** What an entry costs besides its payload: the map's slot, the object and the buffer's own. */
const ENTRY_BYTES = 160;

/** The payload bytes every user's `PagePayloads` on this gateway hold, within `--inbox-page-cache`. */
export class PayloadBudget {
  used = 0;

  constructor(readonly maxBytes: number) {}

  take(bytes: number): boolean {
    if (this.used + bytes > this.maxBytes) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

/**
 * The payloads of a user's newest notifications, as pages read them, so that the page a bell asks
 * for again and again is answered without reading JetStream: at most one largest page of them
 * (the newest kept), within the gateway's budget (none kept past it). Made at the user's first
 * page on the gateway, so a user who never lists costs nothing; let go of with the user. A stored
 * notification never changes, so what is kept stays right; which ids a page lists is decided
 * elsewhere, from the ids known (retention included).
 */
export class PagePayloads {
  private readonly byId = new Map<number, StoredNotification>();
  private bytes = 0;
  /** Let go of: reads still under way keep nothing. */
  private released = false;

  constructor(
    private readonly budget: PayloadBudget,
    private readonly max = INBOX_LIST_MAX,
  ) {}

  get(id: number): StoredNotification | undefined {
    return this.byId.get(id);
  }

  keep({ id, time, data }: StoredNotification): void {
    if (this.released || this.byId.has(id)) return;
    const size = data.byteLength + ENTRY_BYTES;
    if (!this.budget.take(size)) return;
    // A copy of its own size: what a read got may be a view of a larger buffer (as a small Buffer's
    // copy would be, of a pool's), which it would keep alive.
    this.byId.set(id, { id, time, data: new Uint8Array(data) });
    this.bytes += size;
    if (this.byId.size > this.max) this.drop(Math.min(...this.byId.keys()));
  }

  /** Gives every byte back to the budget. */
  release(): void {
    this.released = true;
    this.budget.give(this.bytes);
    this.bytes = 0;
    this.byId.clear();
  }

  private drop(id: number): void {
    const entry = this.byId.get(id);
    if (!entry) return;
    this.byId.delete(id);
    const size = entry.data.byteLength + ENTRY_BYTES;
    this.bytes -= size;
    this.budget.give(size);
  }
}
