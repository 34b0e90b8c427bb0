export { type NatsServer, type NatsServerOptions, startNats } from "../local/nats-server.js";
export { freePort } from "../local/ports.js";
export { answersOk, pollFor, waitUntil } from "../local/wait-until.js";
export { startTestGateway } from "./gateway.js";
export { type GatewayProcess, startGatewayProcess, startGatewayProcesses } from "./gateway-process.js";
export {
  HttpRefusal,
  HttpStreamClient,
  type HttpStreamOptions,
  type HttpTransport,
  httpBase,
} from "./http-stream-client.js";
export { type ClusterNode, type NatsCluster, startNatsCluster } from "./nats-cluster.js";
export { type RawBackend, type RawReply, startRawBackend } from "./raw-backend.js";
export { startTcpBalancer, type TcpBalancer } from "./tcp-balancer.js";
export { type CloseInfo, type ReceivedFrame, TestClient } from "./ws-client.js";
