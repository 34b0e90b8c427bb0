// @ts-check
/// <reference types="herald/client/script" />

const list = /** @type {HTMLUListElement} */ (document.getElementById("notifications"));
const badge = /** @type {HTMLElement} */ (document.getElementById("live"));

const client = Herald.connect({
  url: "wss://notify.example.com/ws",
  getToken: async () => (await fetch("/api/herald-token", { credentials: "same-origin" })).text(),
});

client.on("state", (state) => {
  badge.textContent = state;
});
client.on("message", (message) => {
  const item = document.createElement("li");
  item.textContent = JSON.stringify(message.data); // data, never markup
  list.prepend(item);
});
client.on("resync", () => list.replaceChildren());
