import type { AuthAccepted, AuthRequest, ErrorCodeName, ReadyFrame } from "../../protocol/index.js";
import type { GatewayConfig } from "../config/config.js";
import type { AuthOutcome } from "./auth-client.js";

/** What a connection sends the backend to connect or refresh. */
export function authRequest(
  kind: AuthRequest["kind"],
  token: string,
  connection: { readonly id: string; readonly remoteAddress: string; readonly user: string | undefined },
  headers: Record<string, string>,
  gateway: string,
): AuthRequest {
  const request: AuthRequest = {
    kind,
    token,
    connection: connection.id,
    gateway,
    remoteAddress: connection.remoteAddress,
    headers,
  };
  if (kind === "refresh") request.user = connection.user;
  return request;
}

/** Why a connect's auth did not let the connection in: the error the client gets. */
export interface ConnectFailure {
  readonly code: ErrorCodeName;
  readonly message: string;
  /** The backend's refusal code, for the client's code to act on. */
  readonly reason?: string;
}

/** The error for an auth outcome other than accepted. */
export function connectFailure(outcome: Exclude<AuthOutcome, { kind: "accepted" }>): ConnectFailure {
  switch (outcome.kind) {
    case "refused":
      return { code: "AUTH_REFUSED", message: outcome.message, reason: outcome.code };
    case "overloaded":
      return { code: "OVERLOADED", message: "the gateway is busy authenticating others; try again later" };
    case "unavailable":
      return { code: "BACKEND_UNAVAILABLE", message: `${outcome.message}; try again later` };
    case "invalid_reply":
      return {
        code: "BACKEND_INVALID_REPLY",
        message: "the backend's auth reply was invalid; try again later",
      };
  }
}

/** `ready` for an accepted connect, before recovery fills in its positions. */
export function readyFrame(
  reply: AuthAccepted,
  connection: string,
  channels: string[],
  presence: string[],
  config: Pick<GatewayConfig, "gatewayId" | "heartbeatInterval" | "maxFrameBytes">,
): ReadyFrame {
  const ready: ReadyFrame = {
    type: "ready",
    user: reply.user,
    connection,
    gateway: config.gatewayId,
    channels,
    heartbeat: config.heartbeatInterval,
    maxFrameBytes: config.maxFrameBytes,
  };
  if (reply.expiresAt !== undefined) ready.expiresAt = reply.expiresAt;
  if (presence.length > 0) ready.presence = presence;
  return ready;
}
