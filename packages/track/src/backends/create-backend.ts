import type { HttpClientOptions } from "../http/http-client";
import { TrackError } from "../track-error";
import { createCometBackend } from "./comet-backend";
import { createMlflowBackend } from "./mlflow-backend";
import { createNeptuneBackend } from "./neptune-backend";
import type { TrackingBackend } from "./tracking-backend";

/** Backend names `createBackend` knows. */
export const remoteBackendNames = ["mlflow", "comet", "neptune"] as const;

/** Creates a remote backend by name (as journaled in a run's header) for a server URI. */
export function createBackend(
  name: string,
  options: {
    uri: string;
    warn?: (message: string) => void;
    env?: Record<string, string | undefined>;
    http?: Omit<HttpClientOptions, "baseUrl" | "headers">;
  },
): TrackingBackend {
  switch (name) {
    case "mlflow":
      return createMlflowBackend(options);
    case "comet":
      return createCometBackend(options);
    case "neptune":
      return createNeptuneBackend(options);
    default:
      throw new TrackError(
        `unknown backend ${JSON.stringify(name)}; expected one of ${remoteBackendNames.join(", ")}`,
      );
  }
}
