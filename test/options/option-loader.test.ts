import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConfigError,
  loadOptions,
  redactOptions,
  secretOptions,
  together,
} from "../../src/options/option-loader.js";
import { describeOptions, option } from "../../src/options/option-spec.js";
import { int } from "../../src/options/schemas.js";

/** A small set of options of every kind, as a command would declare them. */
const SPECS = {
  port: option({ schema: int(1, 65535), default: 8080, description: "port" }),
  name: option({ schema: v.pipe(v.string(), v.minLength(1)), default: "herald", description: "name" }),
  tags: option({
    schema: v.array(v.pipe(v.string(), v.regex(/^[a-z]+$/, "must be lower-case"))),
    default: [],
    description: "tags",
  }),
  verbose: option({ schema: v.boolean(), default: false, description: "verbose" }),
  timeout: option({ schema: int(100, 600_000, "ms"), default: 5000, env: false, description: "ms" }),
  user: option({ schema: v.optional(v.string()), default: undefined, description: "user" }),
  password: option({
    schema: v.optional(v.pipe(v.string(), v.minLength(4, "must be at least 4 characters"))),
    default: undefined,
    secret: true,
    description: "password",
  }),
  ack: option({ schema: v.boolean(), default: true, switch: true, env: false, description: "ack" }),
};

/** The ConfigError `load` throws, for its message. */
function failure(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("option entries", () => {
  it("name their flag and environment variable after the option, unless they say otherwise", () => {
    const defs = describeOptions(SPECS);
    expect(defs.port).toMatchObject({ kind: "int", flag: "--port", env: "HERALD_PORT", placeholder: "n" });
    expect(defs.tags).toMatchObject({ kind: "list", flag: "--tags", env: "HERALD_TAGS" });
    expect(defs.verbose).toMatchObject({ kind: "bool", flag: "--verbose", env: "HERALD_VERBOSE" });
    expect(defs.timeout).toMatchObject({ flag: "--timeout", env: undefined });
    // A switch on by default is turned off by its flag.
    expect(defs.ack).toMatchObject({ kind: "switch", flag: "--no-ack", env: undefined });
    expect(defs.password.secret).toBe(true);
  });
});

describe("loadOptions", () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "herald-options-"));
    file = join(dir, "options.json");
    await writeFile(file, JSON.stringify({ port: 9000, name: "fromfile", tags: ["file"] }));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("takes each option from code, else the flag, else the environment, else the file, else the default", () => {
    const values = loadOptions(SPECS, {
      configFile: file,
      env: { HERALD_PORT: "9100", HERALD_NAME: "fromenv" },
      flags: { port: "9200" },
      overrides: { verbose: true },
    });
    expect(values).toMatchObject({
      port: 9200,
      name: "fromenv",
      tags: ["file"],
      verbose: true,
      timeout: 5000,
    });
    expect(loadOptions(SPECS, { flags: { port: "9200" }, overrides: { port: 1 } }).port).toBe(1);
    expect(loadOptions(SPECS, { configFile: file }).name).toBe("fromfile");
    expect(loadOptions(SPECS).name).toBe("herald");
    // A default known only when loading stands in for the entry's.
    expect(loadOptions(SPECS, { defaults: { name: "found" } }).name).toBe("found");
    expect(loadOptions(SPECS, { defaults: { name: "found" }, env: { HERALD_NAME: "fromenv" } }).name).toBe(
      "fromenv",
    );
  });

  it("reads text by the option's kind: numbers, true or false, comma-separated lists", () => {
    const values = loadOptions(SPECS, {
      env: { HERALD_PORT: "81", HERALD_VERBOSE: "yes", HERALD_TAGS: "a, b,,c" },
    });
    expect(values).toMatchObject({ port: 81, verbose: true, tags: ["a", "b", "c"] });
    expect(loadOptions(SPECS, { flags: { verbose: "off", ack: false } })).toMatchObject({
      verbose: false,
      ack: false,
    });
    // An empty environment variable counts as unset; an option without one ignores its would-be name.
    expect(loadOptions(SPECS, { env: { HERALD_PORT: "", HERALD_TIMEOUT: "1" } })).toMatchObject({
      port: 8080,
      timeout: 5000,
    });
  });

  it("names the option, its flag and environment variable, where the value came from, and the value", () => {
    expect(failure(() => loadOptions(SPECS, { env: { HERALD_PORT: "abc" } })).message).toBe(
      'port (--port / HERALD_PORT): invalid HERALD_PORT "abc": expected a whole number',
    );
    expect(failure(() => loadOptions(SPECS, { flags: { port: "70000" } })).message).toBe(
      'port (--port / HERALD_PORT): invalid --port "70000": must be at most 65535',
    );
    expect(failure(() => loadOptions(SPECS, { flags: { verbose: "maybe" } })).message).toBe(
      'verbose (--verbose / HERALD_VERBOSE): invalid --verbose "maybe": expected true or false',
    );
    // A flag without an environment variable is named alone; the unit is in the message.
    expect(failure(() => loadOptions(SPECS, { flags: { timeout: "5" } })).message).toBe(
      'timeout (--timeout): invalid --timeout "5": must be at least 100 ms',
    );
    // An item of a list, by its place.
    expect(failure(() => loadOptions(SPECS, { env: { HERALD_TAGS: "ok,Bad" } })).message).toBe(
      'tags (--tags / HERALD_TAGS): invalid HERALD_TAGS "ok,Bad": item 2: must be lower-case',
    );
  });

  it("reports every bad value at once, under a heading when given one", () => {
    const error = failure(() =>
      loadOptions(
        SPECS,
        { flags: { port: "0", verbose: "maybe" }, env: { HERALD_NAME: "" } },
        { heading: "invalid configuration" },
      ),
    );
    expect(error.problems).toEqual([
      'verbose (--verbose / HERALD_VERBOSE): invalid --verbose "maybe": expected true or false',
      'port (--port / HERALD_PORT): invalid --port "0": must be at least 1',
    ]);
    expect(error.message).toBe(`invalid configuration:\n  ${error.problems.join("\n  ")}`);
  });

  it("names a config file's bad value, and refuses its unknown options and unreadable files", async () => {
    const bad = join(dir, "bad.json");
    await writeFile(bad, JSON.stringify({ port: "9000", prot: 1 }));
    expect(failure(() => loadOptions(SPECS, { configFile: bad })).problems).toEqual([
      `config file ${bad}: unknown option "prot"`,
      // A file's values are typed: "9000" is not a number there.
      `port (--port / HERALD_PORT): invalid value "9000" in config file ${bad}: Invalid type: Expected number but received "9000"`,
    ]);
    const broken = join(dir, "broken.json");
    await writeFile(broken, "{port:");
    expect(failure(() => loadOptions(SPECS, { configFile: broken })).message).toMatch(
      /^config file .* is not valid JSON/,
    );
    expect(failure(() => loadOptions(SPECS, { configFile: join(dir, "none.json") })).message).toMatch(
      /^cannot read config file/,
    );
  });

  it("never prints a secret option's value", () => {
    const error = failure(() => loadOptions(SPECS, { env: { HERALD_PASSWORD: "hun" } }));
    expect(error.message).toBe(
      "password (--password / HERALD_PASSWORD): invalid HERALD_PASSWORD: must be at least 4 characters",
    );
    // Nor where the schema's own message would quote it.
    expect(
      failure(() => loadOptions(SPECS, { overrides: { password: 31337 as unknown as string } })).message,
    ).toBe("password (--password / HERALD_PASSWORD): invalid value: expected string");
    expect(secretOptions(SPECS)).toEqual(["password"]);
    const values = loadOptions(SPECS, { env: { HERALD_USER: "u", HERALD_PASSWORD: "hunter2" } });
    expect(redactOptions(SPECS, values)).toMatchObject({ user: "u", password: "***", name: "herald" });
    // Unset, it stays unset rather than looking set.
    expect(redactOptions(SPECS, loadOptions(SPECS)).password).toBeUndefined();
  });

  it("checks rules between valid options, naming their flags", () => {
    const checks = [together("user", "password")];
    expect(failure(() => loadOptions(SPECS, { flags: { user: "u" } }, { checks })).message).toBe(
      "--user and --password go together",
    );
    expect(loadOptions(SPECS, { flags: { user: "u", password: "pass" } }, { checks }).user).toBe("u");
    expect(loadOptions(SPECS, {}, { checks }).user).toBeUndefined();
  });
});
