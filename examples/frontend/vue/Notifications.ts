import { defineComponent, h } from "vue";
import { fetchHeraldToken } from "../token.js";
import { useHeraldNotifications } from "./use-herald-notifications.js";

// The same as a single-file component whose <script setup> calls useHeraldNotifications.
export default defineComponent({
  props: { url: { type: String, required: true } },
  setup(props) {
    const { state, messages, missedSome } = useHeraldNotifications(props.url, fetchHeraldToken);
    return () =>
      h("section", [
        h("p", `Live: ${state.value}`),
        missedSome.value ? h("p", "Some notifications may be missing: reload to see them all.") : null,
        // Vue renders text children as text, never as markup.
        h(
          "ul",
          messages.value.map((message) => h("li", { key: message.key }, JSON.stringify(message.data))),
        ),
      ]);
  },
});
