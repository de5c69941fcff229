export { authorizationFromEnv, redactUri } from "./backends/backend-auth";
export { comet } from "./backends/comet";
export { type CometBackendOptions, createCometBackend } from "./backends/comet-backend";
export { createBackend, remoteBackendNames } from "./backends/create-backend";
export { mlflow } from "./backends/mlflow";
export {
  createMlflowBackend,
  type MlflowBackendOptions,
  mlflowLimits,
  mlflowRunIdTag,
} from "./backends/mlflow-backend";
export {
  type MlflowRunSummary,
  type SearchMlflowRunsOptions,
  searchMlflowRuns,
} from "./backends/mlflow-search";
export { neptune } from "./backends/neptune";
export {
  createNeptuneBackend,
  type NeptuneBackendOptions,
  type NeptuneOperation,
  neptuneOperationsOf,
} from "./backends/neptune-backend";
export type {
  BackendItem,
  RemoteRun,
  RemoteRunInfo,
  TrackingBackend,
} from "./backends/tracking-backend";
export type {
  AppendOptions,
  AtomType,
  AtomValue,
  FieldInput,
  FieldType,
  SeriesPoint,
} from "./fields";
export {
  createHttpClient,
  type HttpClient,
  type HttpClientOptions,
  type HttpRequest,
  type HttpResponse,
} from "./http/http-client";
export { AbortedError, HttpError, isRetryableStatus } from "./http/http-error";
export { parseRetryAfter, type RetryDelayOptions, retryDelay } from "./http/retry-delay";
export { type InitRunOptions, initRun, newRunId, type RemoteBackendFactory } from "./init-run";
export {
  type JournalEntry,
  type JournalHeader,
  type JournalOperation,
  journalVersion,
  readJournal,
} from "./journal";
export { resolveMode, runModes } from "./modes";
export {
  defaultRunsRoot,
  journalFileName,
  listRuns,
  readRun,
  type StoredFile,
  type StoredRun,
} from "./read-run";
export { createRemoteDelivery, type RemoteDeliveryOptions } from "./remote-delivery";
export type { FieldHandle, Run, RunDelivery, RunMembers, RunMode } from "./run";
export { takeOverSignals } from "./run";
export {
  type QuarantinedItem,
  quarantineFileName,
  readQuarantine,
  readSyncState,
  SyncBusyError,
  type SyncResult,
  type SyncState,
  syncRun,
  syncStateFileName,
} from "./sync-run";
export {
  FieldTypeError,
  JournalError,
  RunBusyError,
  RunModeError,
  TrackError,
} from "./track-error";
