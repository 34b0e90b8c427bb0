export { freePort } from "./free-port.js";
export { startTestGateway } from "./gateway.js";
export { type NatsServer, type NatsServerOptions, startNats } from "./nats-server.js";
export { type CloseInfo, type ReceivedFrame, TestClient } from "./ws-client.js";
