import { Command } from "commander";
import * as v from "valibot";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CliError } from "../../src/cli/cli-error.js";
import { addOptions, readCommandLine } from "../../src/cli/command-line.js";
import { option } from "../../src/options/option-spec.js";
import { int } from "../../src/options/schemas.js";

/** A command of every kind of flag, declared as option entries. */
const SPECS = {
  port: option({ schema: int(1, 65535), default: 8080, description: "Port to listen on" }),
  servers: option({
    schema: v.array(v.pipe(v.string(), v.minLength(3, "must be at least 3 characters"))),
    default: ["one"],
    placeholder: "servers",
    description: "Servers",
  }),
  history: option({ schema: v.boolean(), default: true, description: "Keep history" }),
  channel: option({
    schema: v.boolean(),
    default: false,
    switch: true,
    env: false,
    description: "a channel",
  }),
  ack: option({ schema: v.boolean(), default: true, switch: true, env: false, description: "no ack" }),
  stored: option({
    schema: v.boolean(),
    default: false,
    switch: true,
    env: false,
    hidden: true,
    description: "old",
  }),
  token: option({
    schema: v.optional(v.pipe(v.string(), v.minLength(4, "must be at least 4 characters"))),
    default: undefined,
    secret: true,
    description: "Token",
  }),
};

/** Parses `args` with a command declaring SPECS and returns what its action read, or the error it threw. */
async function run(args: string[]): Promise<unknown> {
  let read: unknown;
  const command = new Command("try").argument("<user>").exitOverride();
  addOptions(command, SPECS);
  command.action((user: string, _options: unknown, self: Command) => {
    read = readCommandLine(self, SPECS, {
      arguments: {
        user: {
          value: user,
          schema: v.pipe(v.string(), v.regex(/^\w+$/, "must be a word")),
          label: "user id",
        },
      },
    });
  });
  try {
    await command.parseAsync(args, { from: "user" });
  } catch (error) {
    return error;
  }
  return read;
}

describe("a command's flags from option entries", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("have help with the environment variable and default, and hidden ones left out", () => {
    const command = new Command("try");
    addOptions(command, SPECS);
    const help = command.helpInformation();
    expect(help).toMatch(/--port <n>\s+Port to listen on \(env HERALD_PORT, default 8080\)/);
    expect(help).toMatch(/--servers <servers>\s+Servers \(env HERALD_SERVERS, default one\)/);
    expect(help).toMatch(/--history \[true\|false\]\s+Keep history \(env HERALD_HISTORY, default true\)/);
    expect(help).toMatch(/--no-history\s+same as --history false/);
    expect(help).toMatch(/--channel\s+a channel\n/);
    expect(help).toMatch(/--no-ack\s+no ack\n/);
    expect(help).toMatch(/--token <value>\s+Token \(env HERALD_TOKEN\)\n/);
    expect(help).not.toContain("--stored");
  });

  it("take the flag over the environment over the default, and read text by kind", async () => {
    expect(await run(["ann"])).toMatchObject({
      user: "ann",
      port: 8080,
      servers: ["one"],
      history: true,
      channel: false,
      ack: true,
    });
    vi.stubEnv("HERALD_PORT", "9000");
    vi.stubEnv("HERALD_HISTORY", "false");
    vi.stubEnv("HERALD_SERVERS", "env1,env2");
    expect(await run(["ann"])).toMatchObject({ port: 9000, history: false, servers: ["env1", "env2"] });
    expect(
      await run([
        "ann",
        "--port",
        "9100",
        "--history",
        "--servers",
        "abc, def",
        "--channel",
        "--no-ack",
        "--stored",
      ]),
    ).toMatchObject({
      port: 9100,
      history: true,
      servers: ["abc", "def"],
      channel: true,
      ack: false,
      stored: true,
    });
    expect(await run(["ann", "--no-history"])).toMatchObject({ history: false });
    expect(await run(["ann", "--history", "off"])).toMatchObject({ history: false });
  });

  it("refuse bad arguments and options at once as a usage error, each named, secrets not shown", async () => {
    const error = await run(["a.b", "--port", "0", "--servers", "ok1,x"]);
    expect(error).toBeInstanceOf(CliError);
    expect(error).toMatchObject({ exitCode: 2 });
    expect((error as CliError).message).toBe(
      [
        'invalid user id "a.b": must be a word',
        'port (--port / HERALD_PORT): invalid --port "0": must be at least 1',
        'servers (--servers / HERALD_SERVERS): invalid --servers "ok1,x": item 2: must be at least 3 characters',
      ].join("\n"),
    );
    const secret = await run(["ann", "--token", "t0k"]);
    expect((secret as CliError).message).toBe(
      "token (--token / HERALD_TOKEN): invalid --token: must be at least 4 characters",
    );
  });
});
