import * as v from "valibot";
import { CLIENT_FRAME_TYPES, ClientFrame } from "./client-frames.js";
import type { ErrorCodeName } from "./error-codes.js";
import { formatIssues } from "./format-issues.js";
import { inboxMarkProblem } from "./inbox.js";
import { quote } from "./quote.js";

/** Why a frame was refused: the error code to send, and a message that quotes the input only briefly. */
export interface FrameRefusal {
  readonly code: ErrorCodeName;
  readonly message: string;
}

export type DecodedClientFrame =
  | { readonly ok: true; readonly frame: ClientFrame }
  | ({ readonly ok: false } & FrameRefusal);

const TYPES: ReadonlySet<string> = new Set(CLIENT_FRAME_TYPES);
const utf8 = new TextDecoder();

/**
 * One client frame, from its raw WebSocket message to a typed frame, by the schema alone. Never
 * throws: every malformed input (bytes that are not UTF-8 JSON, deep nesting, odd keys) becomes a
 * refusal with the error code the protocol assigns to it.
 */
export function decodeClientFrame(data: Uint8Array | string, isBinary: boolean): DecodedClientFrame {
  if (isBinary) return refuse("BINARY_FRAME", "binary frames are not part of the protocol");
  let json: unknown;
  try {
    json = JSON.parse(typeof data === "string" ? data : utf8.decode(data));
  } catch {
    return refuse("INVALID_JSON", "frame is not valid JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json))
    return refuse("INVALID_FRAME", 'frame must be a JSON object with a string "type"');
  const type: unknown = (json as { type?: unknown }).type;
  if (typeof type !== "string")
    return refuse("INVALID_FRAME", 'frame must be a JSON object with a string "type"');
  if (!TYPES.has(type)) return refuse("UNKNOWN_TYPE", `unknown frame type ${quote(type, 40)}`);
  const parsed = v.safeParse(ClientFrame, json);
  if (!parsed.success)
    return refuse("INVALID_FRAME", `invalid ${type} frame: ${formatIssues(parsed.issues)}`);
  // A rule across fields, which a frame of the variant cannot carry in its own schema.
  const problem = parsed.output.type === "inbox_mark" ? inboxMarkProblem(parsed.output) : undefined;
  if (problem) return refuse("INVALID_FRAME", `invalid inbox_mark frame: ${problem}`);
  return { ok: true, frame: parsed.output };
}

function refuse(code: ErrorCodeName, message: string): DecodedClientFrame {
  return { ok: false, code, message };
}
