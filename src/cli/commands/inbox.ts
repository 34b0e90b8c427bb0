import { Command } from "commander";
import * as v from "valibot";
import { asCliError, connectBackend } from "../backend-connection.js";
import { CliError, ExitCode } from "../cli-error.js";
import { type NatsFlags, withNatsOptions } from "../nats-options.js";

interface InboxFlags extends NatsFlags {
  limit: string;
  before?: string;
  archived?: boolean;
  json?: boolean;
}

const Whole = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.regex(/^\d+$/, "must be a whole number"),
    v.transform(Number),
    v.minValue(min),
    v.maxValue(max),
  );

/**
 * `herald inbox <userId>`: a user's unread count and a page of the inbox, newest first, asked of
 * the gateways (`--inbox true`).
 */
export function inboxCommand(): Command {
  return withNatsOptions(
    new Command("inbox")
      .description("A user's unread count and inbox, newest first (gateways with --inbox true)")
      .argument("<userId>", "user id")
      .option("--limit <n>", "notifications listed, 1 to 100", "20")
      .option("--before <id>", "list those older than this notification id")
      .option("--archived", "list archived notifications too")
      .option("--json", "print the page as JSON"),
  ).action(async (user: string, flags: InboxFlags) => {
    const limit = v.safeParse(Whole(1, 100), flags.limit);
    const before =
      flags.before === undefined ? undefined : v.safeParse(Whole(1, Number.MAX_SAFE_INTEGER), flags.before);
    if (!limit.success) throw new CliError(`invalid --limit: ${limit.issues[0].message}`, ExitCode.Usage);
    if (before && !before.success)
      throw new CliError(`invalid --before: ${before.issues[0].message}`, ExitCode.Usage);
    const backend = await connectBackend(flags, "herald-cli");
    try {
      const page = await backend
        .inbox(user, {
          limit: limit.output,
          ...(before?.success ? { before: before.output } : {}),
          ...(flags.archived ? { archived: true } : {}),
        })
        .catch(asCliError);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(page)}\n`);
        return;
      }
      process.stdout.write(`${user}: ${page.unread}${page.capped ? "+" : ""} unread\n`);
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
