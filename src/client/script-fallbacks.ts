import { pickWithFallbacks } from "./fallbacks.js";
import type { useFallbacks } from "./transport-picker.js";

// The fallbacks bundle: loaded after the `<script>` bundle, it gives the clients the page creates
// from then on HTTP-streaming and SSE where WebSockets are blocked.
const herald = (globalThis as { Herald?: { useFallbacks?: typeof useFallbacks } }).Herald;
if (typeof herald?.useFallbacks !== "function")
  throw new Error("load herald-client.min.js before herald-client-fallbacks.min.js");
herald.useFallbacks(pickWithFallbacks);
