export { freePort } from "./free-port.js";
export { startTestGateway } from "./gateway.js";
export { type GatewayProcess, startGatewayProcess } from "./gateway-process.js";
export { type ClusterNode, type NatsCluster, startNatsCluster } from "./nats-cluster.js";
export { type NatsServer, type NatsServerOptions, startNats } from "./nats-server.js";
export { type RawBackend, startRawBackend } from "./raw-backend.js";
export { startTcpBalancer, type TcpBalancer } from "./tcp-balancer.js";
export { waitUntil } from "./wait-until.js";
export { type CloseInfo, type ReceivedFrame, TestClient } from "./ws-client.js";
