import WebSocket from "ws";
import type { ClientState } from "../../src/client/index.js";
import {
  type ConnectOptions,
  connect,
  type HeraldClient,
  type HeraldClientError,
  type MessageFrame,
  type ReadyFrame,
} from "../../src/client/index.js";

/** A client with everything it emitted recorded, and how often it asked for a token. */
export interface ObservedClient {
  client: HeraldClient;
  states: ClientState[];
  errors: HeraldClientError[];
  messages: MessageFrame[];
  readies: ReadyFrame[];
  resyncs: ReadyFrame[];
  tokenCalls: () => number;
}

const running: HeraldClient[] = [];

/**
 * Connects with `ws` as the WebSocket, tokens `token-1`, `token-2`, ... and zero backoff (random 0)
 * unless the options say otherwise.
 */
export function observeClient(url: string, options: Partial<ConnectOptions> = {}): ObservedClient {
  let calls = 0;
  const client = connect({
    url,
    WebSocket,
    getToken: () => `token-${++calls}`,
    backoff: { random: () => 0 },
    ...options,
  });
  running.push(client);
  const observed: ObservedClient = {
    client,
    states: [],
    errors: [],
    messages: [],
    readies: [],
    resyncs: [],
    tokenCalls: () => calls,
  };
  client.on("state", (state) => observed.states.push(state));
  client.on("error", (error) => observed.errors.push(error));
  client.on("message", (message) => observed.messages.push(message));
  client.on("ready", (ready) => observed.readies.push(ready));
  client.on("resync", (ready) => observed.resyncs.push(ready));
  return observed;
}

/** Closes every client the tests created. */
export function closeClients(): void {
  for (const client of running.splice(0)) client.close();
}
