// The demo page's room: join and leave a shared channel with the client SDK's `subscribe`. The demo
// backend answers the gateway's `<prefix>.subscribe`: every demo user may join the chat room, only
// alice the staff room. Room messages show in the notifications list with their channel (app.js).
(() => {
  const LABELS = {
    subscribing: "Joining…",
    subscribed: "In the room",
    closed: "Not in a room",
  };

  const byId = (id) => document.getElementById(id);
  const els = {
    room: byId("room"),
    join: byId("room-join"),
    leave: byId("room-leave"),
    status: byId("room-status"),
    statusText: byId("room-status-text"),
    error: byId("room-error"),
    form: byId("room-form"),
    message: byId("room-message"),
    send: byId("room-send"),
    result: byId("room-result"),
  };

  /** The live client, from app.js's `herald-client` event; null while the page is not subscribed. */
  let client = null;
  let detachClient = () => {};
  /** The joined room's subscription, from Join until Leave (or until the room ends by itself). */
  let subscription = null;
  let detachRoom = [];
  let rooms = null;

  function onClient(event) {
    detachClient();
    if (subscription) release(subscription); // the old client's subscriptions ended with it
    client = event.detail;
    detachClient = client ? client.on("state", render) : () => {};
    hideError();
    render();
  }

  function join() {
    if (!client || subscription) return;
    hideError();
    const joined = client.subscribe(`channel.${els.room.value}`);
    subscription = joined;
    detachRoom = [
      joined.on("subscribed", render),
      joined.on("error", (error) => {
        const why = error.reason ? ` (${error.reason})` : "";
        showError(`${error.code}${why}: ${error.message}${error.retryable ? " Trying again…" : ""}`);
        if (!error.retryable) release(joined);
        render();
      }),
      joined.on("unsubscribed", (frame) => {
        showError(`The room was taken away (${frame.reason}).`);
        release(joined);
        render();
      }),
      joined.on("resync", () => showResult("Back in the room; messages sent meanwhile may be missing.")),
    ];
    render();
  }

  function leave() {
    if (!subscription) return;
    const left = subscription;
    release(left);
    left.unsubscribe();
    hideError();
    render();
  }

  function release(owner) {
    if (subscription !== owner) return;
    for (const detach of detachRoom) detach();
    detachRoom = [];
    subscription = null;
  }

  function render() {
    const state = subscription ? subscription.state : "closed";
    els.status.dataset.state = subscription ? state : "idle";
    els.statusText.textContent = client ? LABELS[state] : "Subscribe first, then join a room";
    els.room.disabled = !client || subscription !== null;
    els.join.disabled = !client || subscription !== null;
    els.leave.disabled = subscription === null;
    els.send.disabled = rooms === null;
  }

  function showError(text) {
    els.error.hidden = false;
    els.error.textContent = text;
  }

  function hideError() {
    els.error.hidden = true;
    els.error.textContent = "";
  }

  function showResult(text) {
    els.result.textContent = text;
  }

  async function send(event) {
    event.preventDefault();
    const message = els.message.value.trim();
    if (!message) {
      showResult("Type a message first.");
      return;
    }
    els.send.disabled = true;
    showResult("Sending…");
    try {
      const res = await fetch("/api/room-message", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ room: els.room.value, message }),
      });
      const reply = await res.json().catch(() => null);
      if (!res.ok)
        throw new Error(reply && typeof reply.message === "string" ? reply.message : `HTTP ${res.status}`);
      showResult(`Sent to ${els.room.value}.`);
      els.message.value = "";
    } catch (error) {
      showResult(`Not sent: ${error instanceof Error ? error.message : error}`);
    } finally {
      render();
    }
  }

  async function start() {
    document.addEventListener("herald-client", onClient);
    els.join.addEventListener("click", join);
    els.leave.addEventListener("click", leave);
    els.form.addEventListener("submit", (event) => void send(event));
    try {
      const res = await fetch("/api/config");
      rooms = (await res.json()).rooms;
    } catch {
      showError("Cannot load the demo's rooms.");
      return;
    }
    els.room.replaceChildren(
      ...rooms.map((room) => {
        const option = document.createElement("option");
        option.value = room;
        option.textContent = room;
        return option;
      }),
    );
    render();
  }

  void start();
})();
