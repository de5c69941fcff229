import type { RemoteBackendFactory } from "../init-run";
import { createRemoteDelivery } from "../remote-delivery";
import { redactUri } from "./backend-auth";
import { type CometBackendOptions, createCometBackend } from "./comet-backend";

/**
 * The Comet backend for `initRun({ backend: comet({ workspace }) })`; the API key comes from
 * `COMET_API_KEY`. Tested against a contract server only (see `createCometBackend`).
 */
export function comet(
  options: CometBackendOptions & { retryDelayMs?: number } = {},
): RemoteBackendFactory {
  const env = options.env ?? process.env;
  return {
    name: "comet",
    uri: redactUri(options.uri ?? env.MEDFM_TRACK_URI ?? "https://www.comet.com"),
    createDelivery(folder, { warn }) {
      const backend = createCometBackend({ ...options, warn: options.warn ?? warn });
      return createRemoteDelivery(folder, backend, { warn, retryDelayMs: options.retryDelayMs });
    },
  };
}
