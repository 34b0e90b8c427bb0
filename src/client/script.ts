// The `<script>` bundle (`Herald`): the API of `herald/client`, over WebSocket alone, within its size
// budget. Loading the fallbacks bundle after it adds HTTP-streaming and SSE.
export * from "./api.js";
