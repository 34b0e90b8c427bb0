import { CLOSE_CATALOGUE, CLOSE_MEANINGS, type CloseCodeName } from "./close-codes.js";
import { ERROR_CATALOGUE } from "./error-codes.js";
import { RPC_ERROR_CATALOGUE } from "./rpc-error-codes.js";
import { SUBSCRIBE_ERROR_MEANINGS, SUBSCRIBE_ERROR_RETRY } from "./subscribe-errors.js";

/** docs/protocol.md's table of error and close codes, from the two catalogues. */
export function errorTableMarkdown(): string {
  const rows = [
    "| error code | close code | meaning | retry |",
    "|---|---|---|---|",
    ...Object.entries(ERROR_CATALOGUE).map(
      ([name, entry]) =>
        `| \`${name}\` | ${CLOSE_CATALOGUE[entry.close].code} | ${entry.meaning} | ${entry.advice} |`,
    ),
    ...(Object.entries(CLOSE_MEANINGS) as [CloseCodeName, string][]).map(([name, meaning]) => {
      const entry = CLOSE_CATALOGUE[name];
      return `| — | ${entry.code} | ${meaning} | ${entry.retry ? "yes" : "no"} |`;
    }),
  ];
  return `${rows.join("\n")}\n`;
}

/** docs/protocol.md's table of `rpc_error` codes. */
export function rpcErrorTableMarkdown(): string {
  const rows = [
    "| code | meaning | call again |",
    "|---|---|---|",
    ...Object.entries(RPC_ERROR_CATALOGUE).map(
      ([name, entry]) => `| \`${name}\` | ${entry.meaning} | ${entry.advice} |`,
    ),
  ];
  return `${rows.join("\n")}\n`;
}

/** docs/protocol.md's table of `subscribe_error` codes, from their catalogue. */
export function subscribeErrorTableMarkdown(): string {
  const rows = [
    "| code | meaning | retry |",
    "|---|---|---|",
    ...Object.entries(SUBSCRIBE_ERROR_RETRY).map(
      ([name, retry]) =>
        `| \`${name}\` | ${SUBSCRIBE_ERROR_MEANINGS[name as keyof typeof SUBSCRIBE_ERROR_RETRY]} | ${retry ? "yes, with backoff" : "no"} |`,
    ),
  ];
  return `${rows.join("\n")}\n`;
}
