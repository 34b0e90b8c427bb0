import { connect } from "herald/client";
import { fetchHeraldToken } from "./token.js";

const list = document.querySelector("#notifications")!;
const badge = document.querySelector("#live")!;

const client = connect({ url: "wss://notify.example.com/ws", getToken: fetchHeraldToken });

client.on("state", (state) => {
  badge.textContent = state;
});
client.on("message", (message) => {
  const item = document.createElement("li");
  item.textContent = JSON.stringify(message.data); // data, never markup
  list.prepend(item);
});
client.on("resync", () => {
  // Messages may have been missed while away: reload the list from your backend.
  list.replaceChildren();
});
client.on("error", (error) => console.warn("herald", error.code, error.message));
