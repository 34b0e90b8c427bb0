import { readFile } from "node:fs/promises";
import { type ConnectionOptions, credsAuthenticator } from "@nats-io/nats-core";
import * as v from "valibot";
import { together } from "../options/option-loader.js";
import { option } from "../options/option-spec.js";

/** A NATS server URL as the NATS client takes it. */
export const NatsUrl = v.pipe(
  v.string(),
  v.regex(/^(nats|tls|ws|wss):\/\/[^\s/]+$|^[^\s:/]+:\d+$/, "must be like nats://host:4222 or host:4222"),
);
const file = v.pipe(v.string(), v.minLength(1));
const USER_AND_PASSWORD = "a user and a password go together";

/**
 * How Herald reaches NATS, the same for the gateway, `herald publish` and `HeraldBackend.connect`:
 * servers, user and password or a token or a credentials file, and TLS. Each entry gives the flag
 * (`--nats-user`) and environment name (`HERALD_NATS_USER`) the gateway and the CLI share.
 */
export const NATS_CONNECTION_OPTIONS = {
  nats: option({
    schema: v.pipe(v.array(NatsUrl), v.minLength(1, "needs at least one server")),
    default: ["nats://127.0.0.1:4222"],
    description: "NATS servers, comma-separated",
    env: "HERALD_NATS_URL",
  }),
  natsUser: option({
    schema: v.optional(v.string()),
    default: undefined,
    description: "NATS user name",
  }),
  natsPassword: option({
    schema: v.optional(v.string()),
    default: undefined,
    description: "NATS password",
    secret: true,
  }),
  natsToken: option({
    schema: v.optional(v.string()),
    default: undefined,
    description: "NATS token",
    secret: true,
  }),
  natsCreds: option({
    schema: v.optional(file),
    default: undefined,
    description: "NATS credentials file (JWT + nkey)",
  }),
  natsTlsCa: option({
    schema: v.optional(file),
    default: undefined,
    description: "CA file to verify the NATS server",
  }),
  natsTlsCert: option({
    schema: v.optional(file),
    default: undefined,
    description: "Client certificate file for NATS TLS",
  }),
  natsTlsKey: option({
    schema: v.optional(file),
    default: undefined,
    description: "Client key file for NATS TLS",
  }),
};

const o = NATS_CONNECTION_OPTIONS;

/** The settings by option name, as the gateway's config and `herald publish` hold them. */
export const NatsSettingsSchema = v.object({
  nats: o.nats.schema,
  natsUser: o.natsUser.schema,
  natsPassword: o.natsPassword.schema,
  natsToken: o.natsToken.schema,
  natsCreds: o.natsCreds.schema,
  natsTlsCa: o.natsTlsCa.schema,
  natsTlsCert: o.natsTlsCert.schema,
  natsTlsKey: o.natsTlsKey.schema,
});
export type NatsSettings = Readonly<v.InferOutput<typeof NatsSettingsSchema>>;

/** The same settings as the backend SDK takes them (nats.js's names), checked by the same schemas. */
export const NatsAccessSchema = v.pipe(
  v.object({
    servers: v.pipe(
      v.union([NatsUrl, v.array(NatsUrl)]),
      v.transform((servers) => (typeof servers === "string" ? [servers] : servers)),
      o.nats.schema,
    ),
    user: o.natsUser.schema,
    pass: o.natsPassword.schema,
    token: o.natsToken.schema,
    credsFile: o.natsCreds.schema,
    tls: v.optional(
      v.object({ caFile: o.natsTlsCa.schema, certFile: o.natsTlsCert.schema, keyFile: o.natsTlsKey.schema }),
    ),
  }),
  v.check((access) => (access.user === undefined) === (access.pass === undefined), USER_AND_PASSWORD),
);
export type NatsAccess = v.InferOutput<typeof NatsAccessSchema>;

/** The loader's check that a user comes with a password: `--nats-user and --nats-password go together`. */
export const natsUserWithPassword = together("natsUser", "natsPassword");

/** The settings in the backend SDK's terms. */
export function natsAccess(settings: NatsSettings): NatsAccess {
  const { natsTlsCa: caFile, natsTlsCert: certFile, natsTlsKey: keyFile } = settings;
  const tls = caFile || certFile || keyFile ? { caFile, certFile, keyFile } : undefined;
  return {
    servers: [...settings.nats],
    user: settings.natsUser,
    pass: settings.natsPassword,
    token: settings.natsToken,
    credsFile: settings.natsCreds,
    tls,
  };
}

/** The NATS client's options for `access`: servers, credentials (the creds file read now) and TLS. */
export async function natsClientOptions(access: NatsAccess): Promise<ConnectionOptions> {
  const options: ConnectionOptions = { servers: [...access.servers] };
  if (access.user !== undefined) {
    options.user = access.user;
    options.pass = access.pass;
  }
  if (access.token !== undefined) options.token = access.token;
  if (access.credsFile !== undefined)
    options.authenticator = credsAuthenticator(await readFile(access.credsFile));
  const { caFile, certFile, keyFile } = access.tls ?? {};
  if (caFile || certFile || keyFile) {
    options.tls = {};
    if (caFile) options.tls.caFile = caFile;
    if (certFile) options.tls.certFile = certFile;
    if (keyFile) options.tls.keyFile = keyFile;
  }
  return options;
}
