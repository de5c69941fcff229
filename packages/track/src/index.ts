export type {
  AppendOptions,
  AtomType,
  AtomValue,
  FieldInput,
  FieldType,
  SeriesPoint,
} from "./fields";
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
export type { FieldHandle, Run, RunDelivery, RunMembers, RunMode } from "./run";
export { FieldTypeError, JournalError, RunModeError, TrackError } from "./track-error";
