// The demo page: plain browser JavaScript on top of the client SDK's script build (global `Herald`).
// Everything that comes from the network is put on the page with textContent, never as HTML.
(() => {
  const MAX_NOTIFICATIONS = 100;
  const STATE_LABELS = {
    idle: "Not subscribed",
    connecting: "Connecting…",
    authenticating: "Authenticating…",
    ready: "Ready",
    reconnecting: "Reconnecting…",
    closed: "Stopped",
  };
  const TRANSPORT_LABELS = {
    websocket: "WebSocket",
    "http-stream": "HTTP-streaming",
    sse: "Server-sent events",
  };

  const byId = (id) => document.getElementById(id);
  const els = {
    user: byId("user"),
    subscribe: byId("subscribe"),
    unsubscribe: byId("unsubscribe"),
    status: byId("status"),
    statusText: byId("status-text"),
    statusDetail: byId("status-detail"),
    transport: byId("transport"),
    error: byId("error"),
    list: byId("notifications"),
    empty: byId("empty"),
    clear: byId("clear"),
    form: byId("notify-form"),
    notifyUser: byId("notify-user"),
    notifyMessage: byId("notify-message"),
    notifySend: byId("notify-send"),
    notifyResult: byId("notify-result"),
    terminal: byId("terminal-command"),
    rpcTime: byId("rpc-time"),
    signOut: byId("sign-out-everywhere"),
    backendResult: byId("backend-result"),
    members: byId("members"),
    presenceEmpty: byId("presence-empty"),
    presenceNote: byId("presence-note"),
  };
  const LOBBY = "channel.lobby";
  /** Who is in the lobby: user -> { connections, name }, from presence() and join/leave. */
  let members = new Map();

  /** From GET /api/config: { gatewayUrl, users, publishFlags }. */
  let config = null;
  /** The live client, from Subscribe until Unsubscribe (or until it stops by itself). */
  let client = null;
  let detachListeners = [];

  /** A JSON call to the demo app; rejects with the server's message on any error status. */
  async function api(path, body) {
    const init =
      body === undefined
        ? {}
        : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
    const res = await fetch(path, init);
    let payload = null;
    try {
      payload = await res.json();
    } catch {
      // not JSON: reported by status below
    }
    if (!res.ok) {
      const message = payload && typeof payload.message === "string" ? payload.message : `HTTP ${res.status}`;
      throw new Error(message);
    }
    return payload;
  }

  /**
   * The demo app names the gateway as it sees it (127.0.0.1). A page opened through another host
   * name (a phone on the same network) reaches the gateway on that host instead.
   */
  function gatewayUrl() {
    const url = new URL(config.gatewayUrl);
    const loopback = ["127.0.0.1", "localhost", "[::1]"];
    if (loopback.includes(url.hostname) && !loopback.includes(location.hostname)) {
      url.hostname = location.hostname;
    }
    return url.toString();
  }

  /**
   * `?transports=sse` (or `http-stream`, or a comma-separated order) picks the transports the client
   * may use: the default tries a WebSocket first and falls back where a proxy blocks it.
   */
  function transportsFromPage() {
    const asked = new URLSearchParams(location.search).get("transports");
    return asked ? { transports: asked.split(",").map((name) => name.trim()) } : {};
  }

  function subscribe() {
    if (client || !config) return;
    if (typeof Herald === "undefined") {
      showError("The client SDK did not load (/herald-client.min.js); run npm run build.");
      return;
    }
    const user = els.user.value;
    hideError();
    let created;
    try {
      // getToken runs before every (re)connect and on refresh: each time a fresh token from the app.
      created = Herald.connect({
        url: gatewayUrl(),
        getToken: () => api("/api/login", { user }).then((reply) => reply.token),
        ...transportsFromPage(),
      });
    } catch (error) {
      showError(describeError(error));
      return;
    }
    client = created;
    announceClient(created);
    detachListeners = [
      created.on("state", (state) => onState(created, state)),
      created.on("ready", (ready) => {
        hideError();
        showDetail(`Signed in as ${ready.user} · receiving ${ready.channels.join(", ")}`);
        els.transport.textContent = TRANSPORT_LABELS[created.transportName] ?? created.transportName;
        if (ready.presence?.includes(LOBBY)) void loadMembers(created);
      }),
      created.on("join", (join) => {
        if (join.channel !== LOBBY) return;
        members.set(join.user, { connections: 1, name: join.info?.name });
        renderMembers(`${join.user} joined`);
      }),
      created.on("leave", (leave) => {
        if (leave.channel !== LOBBY) return;
        members.delete(leave.user);
        renderMembers(`${leave.user} left`);
      }),
      created.on("message", addNotification),
      created.on("error", (error) => showError(describeError(error), error)),
      created.on("resync", () =>
        showDetail("Reconnected. Messages sent meanwhile could not be replayed; an app would refetch now."),
      ),
    ];
    renderState(created.state);
    renderControls();
  }

  /** The lobby as the gateways know it now; joins and leaves keep it current from there. */
  async function loadMembers(owner) {
    try {
      const snapshot = await owner.presence(LOBBY);
      if (owner !== client) return;
      members = new Map(
        snapshot.members.map((m) => [m.user, { connections: m.connections, name: m.info?.name }]),
      );
      renderMembers(snapshot.truncated ? `${snapshot.count} in the lobby; not all listed` : "");
    } catch (error) {
      if (owner === client) els.presenceNote.textContent = `Presence unavailable: ${describeError(error)}`;
    }
  }

  function renderMembers(note) {
    const users = [...members.keys()].sort();
    els.members.replaceChildren(
      ...users.map((user) => {
        const item = document.createElement("li");
        item.className = "member";
        item.dataset.user = user;
        const { connections } = members.get(user);
        item.textContent = connections > 1 ? `${user} (${connections} tabs)` : user;
        return item;
      }),
    );
    els.presenceEmpty.hidden = users.length > 0;
    els.presenceNote.textContent = note ?? "";
  }

  function unsubscribe() {
    if (!client) return;
    const closing = client;
    release(closing);
    closing.close();
    members = new Map();
    renderMembers("");
    hideError();
    showDetail("");
    renderState("idle");
    renderControls();
  }

  function onState(owner, state) {
    if (owner !== client) return;
    renderState(state);
    renderControls();
    if (state === "closed") {
      // Stopped by itself (a refused token): let go after this turn, once its error event was shown.
      queueMicrotask(() => {
        if (client === owner) release(owner);
        renderControls();
      });
    }
  }

  function release(owner) {
    if (client !== owner) return;
    for (const detach of detachListeners) detach();
    detachListeners = [];
    client = null;
    announceClient(null);
  }

  /** Tells the page's other parts (room.js) which client is live: the new one, or null when none. */
  function announceClient(current) {
    document.dispatchEvent(new CustomEvent("herald-client", { detail: current }));
  }

  function renderState(state) {
    els.status.dataset.state = state;
    els.statusText.textContent = STATE_LABELS[state] ?? state;
    if (state === "idle" || state === "closed") showDetail("");
  }

  function renderControls() {
    els.subscribe.disabled = client !== null || config === null;
    els.unsubscribe.disabled = client === null;
    els.user.disabled = client !== null || config === null;
    els.rpcTime.disabled = client === null || client.state !== "ready";
    els.signOut.disabled = config === null;
  }

  /** A call to the backend over the page's own WebSocket: client.rpc, answered on herald.rpc.time. */
  async function askServerTime() {
    if (!client) return;
    els.rpcTime.disabled = true;
    els.backendResult.textContent = "Asking…";
    try {
      const answer = await client.rpc("time", null, { timeout: 5000 });
      const time = new Date(answer.now).toLocaleTimeString([], {
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      });
      els.backendResult.textContent = `Server time ${time}, asked as ${answer.user}.`;
    } catch (error) {
      els.backendResult.textContent = `No answer: ${describeError(error)}`;
    } finally {
      renderControls();
    }
  }

  /** The app revokes the user's tokens and closes every connection of theirs, on every gateway. */
  async function signOutEverywhere() {
    const user = els.user.value;
    els.signOut.disabled = true;
    els.backendResult.textContent = "Signing out…";
    try {
      await api("/api/sign-out-everywhere", { user });
      els.backendResult.textContent = `${user} is signed out on every page.`;
    } catch (error) {
      els.backendResult.textContent = `Not signed out: ${error instanceof Error ? error.message : error}`;
    } finally {
      renderControls();
    }
  }

  function describeError(error) {
    if (!error || typeof error !== "object") return String(error);
    const parts = [error.code || error.name || "Error"];
    if (error.reason) parts.push(`(${error.reason})`);
    if (error.closeCode) parts.push(`· close ${error.closeCode}`);
    const tail = error.code && error.retryable === false ? " Stopped: subscribe again to retry." : "";
    return `${parts.join(" ")}: ${error.message}${tail}`;
  }

  function showError(text, error) {
    els.error.hidden = false;
    els.error.textContent = text;
    els.error.dataset.code = error?.code ?? "";
  }

  function hideError() {
    els.error.hidden = true;
    els.error.textContent = "";
    els.error.dataset.code = "";
  }

  function showDetail(text) {
    els.statusDetail.textContent = text;
  }

  /** JSON payloads arrive parsed, anything else as a string: both are shown as text. */
  function contentOf(data) {
    if (typeof data === "string") return data;
    try {
      return JSON.stringify(data);
    } catch {
      return String(data);
    }
  }

  function addNotification(frame) {
    const item = document.createElement("li");
    item.className = "notification";
    item.dataset.channel = frame.channel;

    const meta = document.createElement("div");
    meta.className = "meta";
    const now = new Date();
    const time = document.createElement("time");
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    const channel = document.createElement("span");
    channel.className = "channel";
    channel.textContent = frame.channel;
    meta.append(time, channel);

    const content = document.createElement("p");
    content.className = "content";
    content.textContent = contentOf(frame.data);

    item.append(meta, content);
    els.list.prepend(item);
    while (els.list.children.length > MAX_NOTIFICATIONS) els.list.lastElementChild.remove();
    els.empty.hidden = true;
  }

  function clearNotifications() {
    els.list.replaceChildren();
    els.empty.hidden = false;
  }

  async function sendNotification(event) {
    event.preventDefault();
    const user = els.notifyUser.value;
    const message = els.notifyMessage.value.trim();
    if (!message) {
      els.notifyResult.textContent = "Type a message first.";
      els.notifyMessage.focus();
      return;
    }
    els.notifySend.disabled = true;
    els.notifyResult.textContent = "Sending…";
    try {
      await api("/api/notify", { user, message });
      els.notifyResult.textContent = `Sent to ${user}.`;
      els.notifyMessage.value = "";
    } catch (error) {
      els.notifyResult.textContent = `Not sent: ${error instanceof Error ? error.message : error}`;
    } finally {
      els.notifySend.disabled = config === null;
    }
  }

  function renderTerminalCommand() {
    const flags = config?.publishFlags ? ` ${config.publishFlags}` : "";
    els.terminal.textContent = `npx herald publish ${els.user.value || "alice"} "hello!"${flags}`;
  }

  function fillUsers(select, users) {
    select.replaceChildren(
      ...users.map((user) => {
        const option = document.createElement("option");
        option.value = user;
        option.textContent = user;
        return option;
      }),
    );
  }

  async function start() {
    els.subscribe.addEventListener("click", subscribe);
    els.unsubscribe.addEventListener("click", unsubscribe);
    els.clear.addEventListener("click", clearNotifications);
    els.rpcTime.addEventListener("click", () => void askServerTime());
    els.signOut.addEventListener("click", () => void signOutEverywhere());
    els.form.addEventListener("submit", (event) => void sendNotification(event));
    els.user.addEventListener("change", () => {
      els.notifyUser.value = els.user.value;
      renderTerminalCommand();
    });
    // Leaving the page closes the socket cleanly instead of letting it time out on the gateway.
    window.addEventListener("pagehide", () => client?.close());
    try {
      config = await api("/api/config");
    } catch (error) {
      showError(`Cannot load the demo's settings: ${error instanceof Error ? error.message : error}`);
      return;
    }
    fillUsers(els.user, config.users);
    fillUsers(els.notifyUser, config.users);
    els.notifySend.disabled = false;
    renderTerminalCommand();
    renderControls();
  }

  void start();
})();
