import type { RemoteBackendFactory } from "../init-run";
import { createRemoteDelivery } from "../remote-delivery";
import { redactUri } from "./backend-auth";
import { createMlflowBackend, type MlflowBackendOptions } from "./mlflow-backend";

/**
 * The MLflow backend for `initRun({ backend: mlflow({ uri }) })`. The URI defaults to
 * `MEDFM_TRACK_URI`; credentials come from `MLFLOW_TRACKING_TOKEN` or `MLFLOW_TRACKING_USERNAME`
 * and `MLFLOW_TRACKING_PASSWORD`.
 */
export function mlflow(
  options: MlflowBackendOptions & { retryDelayMs?: number } = {},
): RemoteBackendFactory {
  const rawUri = options.uri ?? (options.env ?? process.env).MEDFM_TRACK_URI;
  const uri = rawUri ? redactUri(rawUri) : "";
  return {
    name: "mlflow",
    uri,
    createDelivery(folder, { warn }) {
      const backend = createMlflowBackend({ ...options, warn: options.warn ?? warn });
      return createRemoteDelivery(folder, backend, { warn, retryDelayMs: options.retryDelayMs });
    },
  };
}
