// The demo page's bell: the user's notification inbox with the inbox import of the client SDK
// (global `HeraldInbox`, /herald-inbox.min.js). The badge is the unread count the gateways push to
// every tab of the user; the dropdown lists the inbox, newest first; opening it marks what it shows
// seen, clicking an item marks it read, "Mark all read" marks everything up to the newest. Marks made
// in another tab (or by the backend) arrive as `change` events. Everything from the network is put on
// the page with textContent, never as HTML.
(() => {
  const byId = (id) => document.getElementById(id);
  const els = {
    bell: byId("bell"),
    badge: byId("bell-badge"),
    panel: byId("bell-panel"),
    list: byId("bell-list"),
    empty: byId("bell-empty"),
    markAll: byId("bell-mark-all"),
    note: byId("bell-note"),
    sendAlice: byId("inbox-send-alice"),
    sendResult: byId("inbox-send-result"),
  };

  /** The inbox of the live client, from app.js's `herald-client` event; null while not subscribed. */
  let inbox = null;
  let detach = [];
  let open = false;

  function onClient(event) {
    for (const off of detach) off();
    detach = [];
    inbox = null;
    const client = event.detail;
    if (client && typeof HeraldInbox !== "undefined") {
      // Made in the same turn as the client, so its first connect already asks for the inbox.
      inbox = HeraldInbox.inbox(client);
      detach = [
        inbox.on("change", () => {
          renderBadge();
          if (open) void refresh();
        }),
        inbox.on("notification", () => {
          if (open) void refresh();
        }),
        inbox.on("resync", () => {
          if (open) void refresh();
        }),
      ];
    }
    if (!inbox) close();
    renderBadge();
  }

  function renderBadge() {
    const unread = inbox ? inbox.unread : 0;
    const text = inbox?.capped ? `${unread}+` : String(unread);
    els.badge.textContent = text;
    els.badge.hidden = unread === 0;
    els.bell.dataset.unread = text;
    els.bell.disabled = inbox === null;
    els.markAll.disabled = inbox === null || unread === 0;
  }

  function toggle() {
    if (open) return close();
    if (!inbox) return;
    open = true;
    els.panel.hidden = false;
    els.bell.setAttribute("aria-expanded", "true");
    void refresh({ markSeen: true });
  }

  function close() {
    open = false;
    els.panel.hidden = true;
    els.bell.setAttribute("aria-expanded", "false");
  }

  /** Lists the newest notifications; when the dropdown was just opened, what it shows is seen. */
  async function refresh({ markSeen = false } = {}) {
    const owner = inbox;
    if (!owner) return;
    try {
      const page = await owner.list({ limit: 20 });
      if (owner !== inbox) return;
      renderItems(page.items);
      const newest = page.items[0];
      if (markSeen && newest && page.items.some((item) => !item.seen))
        await owner.markSeen({ upTo: newest.id });
    } catch (error) {
      if (owner === inbox) els.note.textContent = `The inbox is unavailable: ${error.message}`;
    }
  }

  function renderItems(items) {
    els.list.replaceChildren(
      ...items.map((item) => {
        const li = document.createElement("li");
        li.className = "bell-item";
        li.dataset.id = String(item.id);
        li.dataset.read = String(item.read);
        const text = document.createElement("button");
        text.type = "button";
        text.className = "bell-text";
        text.textContent = textOf(item.data);
        text.addEventListener("click", () => void inbox?.markRead([item.id]));
        const time = document.createElement("time");
        time.dateTime = new Date(item.time).toISOString();
        time.textContent = new Date(item.time).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        li.append(text, time);
        return li;
      }),
    );
    els.empty.hidden = items.length > 0;
    els.note.textContent = "";
  }

  /** The demo sends `{ text }`; anything else is shown as JSON. */
  function textOf(data) {
    if (data && typeof data === "object" && typeof data.text === "string") return data.text;
    return typeof data === "string" ? data : JSON.stringify(data);
  }

  async function sendToAlice() {
    els.sendAlice.disabled = true;
    els.sendResult.textContent = "Sending…";
    try {
      const stamp = new Date().toLocaleTimeString([], {
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      });
      const reply = await fetch("/api/inbox-notify", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: "alice", message: `A notification for alice, sent at ${stamp}` }),
      });
      const body = await reply.json().catch(() => null);
      if (!reply.ok) throw new Error(body?.message ?? `HTTP ${reply.status}`);
      els.sendResult.textContent = `Sent to alice's inbox as notification ${body.id}.`;
    } catch (error) {
      els.sendResult.textContent = `Not sent: ${error instanceof Error ? error.message : error}`;
    } finally {
      els.sendAlice.disabled = false;
    }
  }

  els.bell.addEventListener("click", toggle);
  els.markAll.addEventListener("click", () => void inbox?.markAllRead());
  els.sendAlice.addEventListener("click", () => void sendToAlice());
  document.addEventListener("herald-client", onClient);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  renderBadge();
})();
