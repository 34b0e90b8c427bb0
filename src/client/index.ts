import { pickWithFallbacks } from "./fallbacks.js";
import { useFallbacks } from "./transport-picker.js";

// `herald/client`: every transport, WebSocket first, HTTP-streaming and SSE where it is blocked.
export * from "./api.js";

useFallbacks(pickWithFallbacks);
