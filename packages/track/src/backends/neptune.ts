import type { RemoteBackendFactory } from "../init-run";
import { createRemoteDelivery } from "../remote-delivery";
import { redactUri } from "./backend-auth";
import { createNeptuneBackend, type NeptuneBackendOptions } from "./neptune-backend";

/**
 * The legacy Neptune backend for `initRun({ backend: neptune({ uri }) })`; the token comes from
 * `NEPTUNE_API_TOKEN`. Tested against a contract server only (see `createNeptuneBackend`).
 */
export function neptune(
  options: NeptuneBackendOptions & { retryDelayMs?: number } = {},
): RemoteBackendFactory {
  const rawUri = options.uri ?? (options.env ?? process.env).MEDFM_TRACK_URI;
  return {
    name: "neptune",
    uri: rawUri ? redactUri(rawUri) : "",
    createDelivery(folder, { warn }) {
      const backend = createNeptuneBackend({ ...options, warn: options.warn ?? warn });
      return createRemoteDelivery(folder, backend, { warn, retryDelayMs: options.retryDelayMs });
    },
  };
}
