import { fetchHeraldToken } from "../token.js";
import { useHeraldNotifications } from "./use-herald-notifications.js";

export function Notifications({ url }: { url: string }) {
  const { state, messages, missedSome } = useHeraldNotifications(url, fetchHeraldToken);
  return (
    <section>
      <p>Live: {state}</p>
      {missedSome && <p>Some notifications may be missing: reload to see them all.</p>}
      <ul>
        {messages.map((message) => (
          // React renders data as text, never as markup.
          <li key={message.key}>{JSON.stringify(message.data)}</li>
        ))}
      </ul>
    </section>
  );
}
