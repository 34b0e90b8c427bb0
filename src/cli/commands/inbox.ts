import { Command } from "commander";
import * as v from "valibot";
import { option } from "../../options/option-spec.js";
import { int } from "../../options/schemas.js";
import { asCliError, connectBackend } from "../backend-connection.js";
import { SafeNameArgument } from "../cli-schemas.js";
import { addOptions } from "../command-line.js";
import { BACKEND_OPTIONS, readBackendCommandLine } from "../nats-options.js";

/** The options of `herald inbox`. */
const INBOX_OPTIONS = {
  ...BACKEND_OPTIONS,
  limit: option({
    schema: int(1, 100),
    default: 20,
    env: false,
    placeholder: "n",
    description: "notifications listed, 1 to 100",
  }),
  before: option({
    schema: v.optional(int(1, Number.MAX_SAFE_INTEGER)),
    default: undefined,
    env: false,
    placeholder: "id",
    description: "list those older than this notification id",
  }),
  archived: option({
    schema: v.boolean(),
    default: false,
    switch: true,
    env: false,
    description: "list archived notifications too",
  }),
  json: option({
    schema: v.boolean(),
    default: false,
    switch: true,
    env: false,
    description: "print the page as JSON",
  }),
};

/**
 * `herald inbox <userId>`: a user's unread count and a page of the inbox, newest first, asked of
 * the gateways (`--inbox true`).
 */
export function inboxCommand(): Command {
  const command = new Command("inbox")
    .description("A user's unread count and inbox, newest first (gateways with --inbox true)")
    .argument("<userId>", "user id");
  addOptions(command, INBOX_OPTIONS);
  return command.action(async (user: string, _options: unknown, self: Command) => {
    const input = readBackendCommandLine(self, INBOX_OPTIONS, {
      arguments: { user: { value: user, schema: SafeNameArgument, label: "user id" } },
    });
    const backend = await connectBackend(input, "herald-cli");
    try {
      const page = await backend
        .inbox(input.user, {
          limit: input.limit,
          ...(input.before === undefined ? {} : { before: input.before }),
          ...(input.archived ? { archived: true } : {}),
        })
        .catch(asCliError);
      if (input.json) {
        process.stdout.write(`${JSON.stringify(page)}\n`);
        return;
      }
      process.stdout.write(`${input.user}: ${page.unread}${page.capped ? "+" : ""} unread\n`);
      for (const item of page.items) {
        const state = [
          item.read ? "read" : "unread",
          item.seen ? "seen" : "unseen",
          ...(item.archived ? ["archived"] : []),
        ];
        process.stdout.write(
          `${item.id} ${new Date(item.time).toISOString()} ${state.join(",")} ${JSON.stringify(item.data)}\n`,
        );
      }
      if (page.more) process.stdout.write(`more: --before ${page.items.at(-1)?.id ?? ""}\n`);
    } finally {
      await backend.close().catch(() => undefined);
    }
  });
}
