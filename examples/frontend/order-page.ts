import { connect } from "herald/client";
import { fetchHeraldToken } from "./token.js";

const client = connect({ url: "wss://notify.example.com/ws", getToken: fetchHeraldToken });

/**
 * Follows one order live while its page is open: subscribes to `channel.order-<id>`, which the
 * backend grants only to the order's owner. Returns the function that stops following it.
 */
export function followOrder(
  orderId: string,
  show: (update: unknown) => void,
  reload: () => void,
): () => void {
  const order = client.subscribe(`channel.order-${orderId}`);
  order.on("message", (message) => show(message.data)); // data, never markup
  // Subscribed again after a reconnect, but updates may have been missed meanwhile: reload the order.
  order.on("resync", reload);
  order.on("error", (error) => {
    // Retryable errors are retried by the subscription itself; the others end it.
    if (!error.retryable) console.warn("cannot follow the order", error.code, error.reason);
  });
  order.on("unsubscribed", ({ reason }) => console.info(`no longer following the order (${reason})`));
  return () => order.unsubscribe();
}
