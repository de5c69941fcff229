import type { AtomType } from "../fields";
import type { StoredRun } from "../read-run";

/** What a backend needs to find or create the remote run of a local run. */
export interface RemoteRunInfo {
  /** The local run id; a backend tags the remote run with it, so creation is idempotent. */
  runId: string;
  /** The project (MLflow experiment, Comet project, Neptune project). */
  project: string;
  /** The run's name, when it has one. */
  name: string | undefined;
  /** Unix milliseconds of creation. */
  createdAt: number;
}

/** A remote run, as saved in the run's sync state: an id plus backend-specific strings. */
export interface RemoteRun {
  /** The backend's id of the run. */
  id: string;
  /** Other backend-specific facts (experiment id, artifact root...). */
  data: Record<string, string>;
}

/** One thing to log, in backend-neutral terms. */
export type BackendItem =
  | { kind: "metric"; key: string; value: number; step: number; timestamp: number }
  | { kind: "text"; key: string; value: string; step: number; timestamp: number }
  | { kind: "param"; key: string; type: AtomType; value: number | boolean | string }
  | { kind: "attribute"; key: string; type: AtomType; value: number | boolean | string }
  | { kind: "setAdd" | "setRemove"; key: string; values: string[] };

/**
 * A remote tracking backend: the small contract every server plugs in by. Journaling, batching,
 * retries, sync state and modes live above it, once. Every method must be safe to repeat with the
 * same arguments (a crash between a call and saving progress repeats the call).
 */
export interface TrackingBackend {
  /** Backend name, like `mlflow`. */
  readonly name: string;
  /** Server URI without credentials. */
  readonly uri: string;
  /** Most items the sync engine hands to one `logBatch` call. */
  readonly maxBatchItems: number;
  /** Finds the remote run tagged with `info.runId`, or creates it. */
  createRun(info: RemoteRunInfo, signal?: AbortSignal): Promise<RemoteRun>;
  /** Logs items in order; splits them into requests within the server's limits. */
  logBatch(run: RemoteRun, items: readonly BackendItem[], signal?: AbortSignal): Promise<void>;
  /**
   * Throws unless the remote run takes writes at all (it was deleted, say). Called after the
   * server rejected a batch as invalid (400, 413, 422), to tell a rejected item, which the sync
   * engine quarantines so that the rest is delivered, from a rejected run, which fails the sync.
   * A backend without it has rejected batches fail the sync.
   */
  checkRun?(run: RemoteRun, signal?: AbortSignal): Promise<void>;
  /** Uploads a file field. */
  uploadFile(
    run: RemoteRun,
    fieldPath: string,
    file: { path: string; name: string; size: number },
    signal?: AbortSignal,
  ): Promise<void>;
  /** Marks the run ended; `stored` is the whole local run, for what is sent only at the end. */
  finishRun(
    run: RemoteRun,
    end: { status: "finished" | "failed" | "killed"; endTime: number; stored: StoredRun },
    signal?: AbortSignal,
  ): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}
