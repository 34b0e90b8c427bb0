import { type ClientState, connect, type HeraldClient } from "herald/client";
import { onMounted, onUnmounted, type Ref, ref, shallowRef } from "vue";

export interface Notification {
  readonly key: number;
  readonly channel: string;
  readonly data: unknown;
}

/**
 * Connects while the calling component is mounted and closes on unmount. The connection state and the
 * latest messages are refs; `missedSome` turns true when messages may have been missed (the `resync`
 * event), for the component to reload its list from the backend.
 */
export function useHeraldNotifications(url: string, getToken: () => Promise<string>, keep = 50) {
  const state: Ref<ClientState> = ref("connecting");
  const messages = shallowRef<readonly Notification[]>([]);
  const missedSome = ref(false);
  let client: HeraldClient | undefined;

  onMounted(() => {
    let received = 0;
    client = connect({ url, getToken });
    client.on("state", (next) => {
      state.value = next;
    });
    client.on("message", ({ channel, data }) => {
      messages.value = [{ key: ++received, channel, data }, ...messages.value].slice(0, keep);
    });
    client.on("resync", () => {
      missedSome.value = true;
    });
  });
  onUnmounted(() => client?.close());

  return { state, messages, missedSome };
}
