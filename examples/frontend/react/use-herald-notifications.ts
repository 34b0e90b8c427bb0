import { type ClientState, connect } from "herald/client";
import { useEffect, useRef, useState } from "react";

export interface Notification {
  readonly key: number;
  readonly channel: string;
  readonly data: unknown;
}

/**
 * Connects while the calling component is mounted and closes on unmount. The connection state and the
 * latest messages are React state; `missedSome` turns true when messages may have been missed (the
 * `resync` event), for the component to reload its list from the backend.
 */
export function useHeraldNotifications(url: string, getToken: () => Promise<string>, keep = 50) {
  const [state, setState] = useState<ClientState>("connecting");
  const [messages, setMessages] = useState<readonly Notification[]>([]);
  const [missedSome, setMissedSome] = useState(false);
  // The latest getToken without reconnecting when the caller passes a new function on each render.
  const tokenSource = useRef(getToken);
  tokenSource.current = getToken;

  useEffect(() => {
    let received = 0;
    const client = connect({ url, getToken: () => tokenSource.current() });
    client.on("state", setState);
    client.on("message", ({ channel, data }) => {
      const notification = { key: ++received, channel, data };
      setMessages((list) => [notification, ...list].slice(0, keep));
    });
    client.on("resync", () => setMissedSome(true));
    return () => client.close(); // also under StrictMode's mount, unmount, mount
  }, [url, keep]);

  return { state, messages, missedSome };
}
