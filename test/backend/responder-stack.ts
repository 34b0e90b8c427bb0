import {
  HeraldBackend,
  type HeraldBackendError,
  type HeraldConnectOptions,
} from "../../src/backend/index.js";
import { stackTest } from "../fixtures.js";

/** A backend SDK connection of the test's own, and every error it reported. */
export interface ConnectedBackend {
  readonly backend: HeraldBackend;
  readonly errors: HeraldBackendError[];
}

/**
 * The backend SDK's tests: a nats-server per file, `raw` playing the gateway (requests sent exactly
 * as the gateway sends them), and `connectBackend()` for each SDK connection a test needs, all
 * closed after the test, the last one opened first.
 */
export const test = stackTest.extend<{
  connectBackend: (options?: Partial<HeraldConnectOptions>) => Promise<ConnectedBackend>;
}>({
  connectBackend: async ({ nats }, use) => {
    const opened: HeraldBackend[] = [];
    await use(async (options = {}) => {
      const errors: HeraldBackendError[] = [];
      const backend = await HeraldBackend.connect({
        servers: nats.url,
        onError: (error) => errors.push(error),
        ...options,
      });
      opened.push(backend);
      return { backend, errors };
    });
    for (const backend of opened.reverse()) await backend.close();
  },
});
