import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { BackendItem, RemoteRun, TrackingBackend } from "./backends/tracking-backend";
import { HttpError } from "./http/http-error";
import { decodeFloat, type JournalOperation, readJournal, readJournalHeader } from "./journal";
import { acquirePidLock, LockHeldError } from "./pid-lock";
import { journalFileName, readRun } from "./read-run";
import { TrackError } from "./track-error";

/** The name of a run's sync state file inside its folder. */
export const syncStateFileName = "sync.json";

/** Where delivery of a run's journal to one backend stands; saved atomically after each step. */
export interface SyncState {
  /** Format version, 1. */
  version: 1;
  /** The backend name. */
  backend: string;
  /** The backend URI, without credentials. */
  uri: string;
  /** The remote run, once created. */
  remote: RemoteRun | undefined;
  /** Byte offset of the first journal line not fully delivered. */
  offset: number;
  /** Items of that line already delivered (points of a long `log` line). */
  itemsDone: number;
  /** Operations delivered in full. */
  operationsDone: number;
  /** Whether the stop operation was delivered (the remote run is ended). */
  finished: boolean;
}

/** Another process is syncing this run now. */
export class SyncBusyError extends TrackError {
  constructor(folder: string, pid: number) {
    super(`${folder} is being synced by process ${pid}; try again when it is done`, {
      isRetryable: true,
    });
    this.name = "SyncBusyError";
  }
}

/** What one {@link syncRun} call did. */
export interface SyncResult {
  /** The remote run. */
  remote: RemoteRun;
  /** Items (points, params, tags...) sent in this call. */
  itemsSent: number;
  /** Files uploaded in this call. */
  filesSent: number;
  /** Whether the remote run is ended. */
  finished: boolean;
  /** Items and uploads the backend rejected in this call, kept in `quarantine.jsonl`. */
  quarantined: number;
}

/** The name of the file, inside a run folder, that keeps what a backend rejected. */
export const quarantineFileName = "quarantine.jsonl";

/** One item or upload a backend rejected, as kept in `quarantine.jsonl`. */
export interface QuarantinedItem {
  /** The journal sequence number of its operation. */
  seq: number;
  /** Its index among the items of that operation (0 for an upload). */
  index: number;
  /** The field path. */
  path: string;
  /** The rejected item; undefined for an upload. */
  item: BackendItem | undefined;
  /** The file of a rejected upload, relative to the run folder. */
  file: string | undefined;
  /** The backend name. */
  backend: string;
  /** The backend URI, without credentials. */
  uri: string;
  /** The server's answer. */
  error: string;
  /** Unix milliseconds of the rejection. */
  at: number;
}

/** Reads what backends rejected from a run's `quarantine.jsonl`, oldest first. */
export function readQuarantine(folder: string): QuarantinedItem[] {
  const file = join(folder, quarantineFileName);
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as QuarantinedItem);
}

/**
 * Whether a failure is the server refusing what was sent (400, 413, 422) rather than being
 * unavailable or refusing us (401, 403, 404, 5xx, network): only such items are quarantined.
 */
function isRejection(error: unknown): error is HttpError {
  return (
    HttpError.isInstance(error) &&
    ((error as HttpError).status === 400 ||
      (error as HttpError).status === 413 ||
      (error as HttpError).status === 422)
  );
}

/** Reads a run's sync state, if it has one. */
export function readSyncState(folder: string): SyncState | undefined {
  const file = join(folder, syncStateFileName);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as SyncState;
}

function saveSyncState(folder: string, state: SyncState): void {
  const file = join(folder, syncStateFileName);
  writeFileSync(`${file}.tmp`, JSON.stringify(state));
  renameSync(`${file}.tmp`, file);
}

/** Takes the folder's sync lock (`sync.lock`, holding our pid); a dead process's lock is taken over. */
function lock(folder: string): () => void {
  try {
    return acquirePidLock(join(folder, "sync.lock"));
  } catch (error) {
    if (error instanceof LockHeldError) throw new SyncBusyError(folder, error.owner?.pid ?? -1);
    throw error;
  }
}

/** Turns one journal operation into backend items (uploads and stop are handled apart). */
export function itemsOf(operation: JournalOperation): BackendItem[] {
  switch (operation.op) {
    case "assign": {
      const value =
        operation.type === "float"
          ? decodeFloat(operation.value as number | string)
          : operation.value;
      return [
        {
          kind: operation.path.startsWith("params/") ? "param" : "attribute",
          key: operation.path,
          type: operation.type,
          value,
        },
      ];
    }
    case "log":
      return operation.points.map(([step, value, timestamp]) =>
        operation.type === "floatSeries"
          ? { kind: "metric", key: operation.path, value: decodeFloat(value), step, timestamp }
          : { kind: "text", key: operation.path, value: String(value), step, timestamp },
      );
    case "add":
      return [{ kind: "setAdd", key: operation.path, values: operation.values }];
    case "remove":
      return [{ kind: "setRemove", key: operation.path, values: operation.values }];
    default:
      return [];
  }
}

/**
 * Delivers a run's journal to a backend, from where the last delivery stopped.
 *
 * Progress (journal byte offset plus items done within the line) is saved after every batch,
 * upload and the final stop. A crash after the server took a batch but before progress was saved
 * repeats that batch; backends make that harmless (MLflow keeps one copy of a metric point with
 * the same key, step, timestamp and value, and params and tags of the same value), so every point
 * ends up on the server exactly once. Only one process syncs a folder at a time (`sync.lock`).
 */
export async function syncRun(
  folder: string,
  backend: TrackingBackend,
  options: {
    signal?: AbortSignal;
    chunkBytes?: number;
    /** Receives a message for each item the backend rejects (default: console.warn). */
    warn?: (message: string) => void;
  } = {},
): Promise<SyncResult> {
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const runFolder = resolve(folder);
  const journalFile = join(runFolder, journalFileName);
  const unlock = lock(runFolder);
  try {
    const header = readJournalHeader(journalFile);
    let state = readSyncState(runFolder);
    if (!state || state.backend !== backend.name || state.uri !== backend.uri) {
      state = {
        version: 1,
        backend: backend.name,
        uri: backend.uri,
        remote: undefined,
        offset: 0,
        itemsDone: 0,
        operationsDone: 0,
        finished: false,
      };
    }
    const result: SyncResult = {
      remote: state.remote as RemoteRun,
      itemsSent: 0,
      filesSent: 0,
      finished: state.finished,
      quarantined: 0,
    };
    if (state.finished) return result;
    if (!state.remote) {
      const stored = readRun(runFolder);
      state.remote = await backend.createRun(
        {
          runId: header.runId,
          project: header.project,
          name:
            typeof stored.values["sys/name"] === "string" ? stored.values["sys/name"] : undefined,
          createdAt: header.createdAt,
        },
        options.signal,
      );
      saveSyncState(runFolder, state);
    }
    const remote = state.remote;
    result.remote = remote;
    const current = state;
    let batch: BackendItem[] = [];
    /** The journal operation (seq, item index) of each item in `batch`. */
    let sources: { seq: number; index: number }[] = [];
    let runChecked = false;
    let quarantinedKeys: Set<string> | undefined;
    const quarantine = (
      source: { seq: number; index: number },
      entry: { path: string; item?: BackendItem; file?: string },
      error: HttpError,
    ): void => {
      const file = join(runFolder, quarantineFileName);
      quarantinedKeys ??= new Set(readQuarantine(runFolder).map((q) => `${q.seq}:${q.index}`));
      result.quarantined += 1;
      // A sync that crashed after quarantining, before saving progress, meets it again.
      if (quarantinedKeys.has(`${source.seq}:${source.index}`)) return;
      quarantinedKeys.add(`${source.seq}:${source.index}`);
      const record: QuarantinedItem = {
        seq: source.seq,
        index: source.index,
        path: entry.path,
        item: entry.item,
        file: entry.file,
        backend: backend.name,
        uri: backend.uri,
        error: error.serverMessage ?? error.message,
        at: Date.now(),
      };
      appendFileSync(file, `${JSON.stringify(record)}\n`);
      warn(
        `@medfm/track: ${backend.name} ${backend.uri} rejected ${entry.file ? "the upload of" : "an item of"} ${entry.path} (journal seq ${source.seq}): ${record.error}; it is kept in ${file} and the rest of the run is delivered`,
      );
    };
    /** Tells a rejected item from a run that takes nothing (deleted, say), which must not be quarantined item by item. */
    const confirmRunWritable = async (error: unknown): Promise<void> => {
      if (!backend.checkRun) throw error;
      if (!runChecked) {
        await backend.checkRun(remote, options.signal);
        runChecked = true;
      }
    };
    /** Logs items; a rejected batch is split in halves until the rejected items are found. */
    const deliver = async (
      items: BackendItem[],
      itemSources: { seq: number; index: number }[],
    ): Promise<void> => {
      try {
        await backend.logBatch(remote, items, options.signal);
        result.itemsSent += items.length;
      } catch (error) {
        if (!isRejection(error)) throw error;
        await confirmRunWritable(error);
        if (items.length === 1) {
          quarantine(itemSources[0], { path: items[0].key, item: items[0] }, error);
          return;
        }
        const half = Math.ceil(items.length / 2);
        await deliver(items.slice(0, half), itemSources.slice(0, half));
        await deliver(items.slice(half), itemSources.slice(half));
      }
    };
    // Progress to save once `batch` is delivered.
    let pending = {
      offset: current.offset,
      itemsDone: current.itemsDone,
      operationsDone: current.operationsDone,
    };
    const sendBatch = async (): Promise<void> => {
      if (batch.length > 0) {
        await deliver(batch, sources);
        batch = [];
        sources = [];
      }
      current.offset = pending.offset;
      current.itemsDone = pending.itemsDone;
      current.operationsDone = pending.operationsDone;
      saveSyncState(runFolder, current);
    };
    for (;;) {
      const chunk = readJournal(journalFile, current.offset, options.chunkBytes ?? 8 * 1024 * 1024);
      if (chunk.entries.length === 0) break;
      let lineStart = current.offset;
      let skip = current.itemsDone;
      for (const { operation, endOffset } of chunk.entries) {
        if (operation.op === "upload") {
          await sendBatch();
          if (skip === 0) {
            try {
              await backend.uploadFile(
                remote,
                operation.path,
                {
                  path: resolve(runFolder, operation.file),
                  name: operation.name,
                  size: operation.size,
                },
                options.signal,
              );
              result.filesSent += 1;
            } catch (error) {
              if (!isRejection(error)) throw error;
              await confirmRunWritable(error);
              quarantine(
                { seq: operation.seq, index: 0 },
                { path: operation.path, file: operation.file },
                error,
              );
            }
          }
          pending = { offset: endOffset, itemsDone: 0, operationsDone: pending.operationsDone + 1 };
          await sendBatch();
        } else if (operation.op === "stop") {
          await sendBatch();
          await backend.finishRun(
            remote,
            { status: operation.status, endTime: operation.timestamp, stored: readRun(runFolder) },
            options.signal,
          );
          pending = { offset: endOffset, itemsDone: 0, operationsDone: pending.operationsDone + 1 };
          current.finished = true;
          result.finished = true;
          await sendBatch();
          return result;
        } else {
          const items = itemsOf(operation);
          for (let index = skip; index < items.length; index += 1) {
            batch.push(items[index]);
            sources.push({ seq: operation.seq, index });
            const lineDone = index + 1 === items.length;
            pending = lineDone
              ? { offset: endOffset, itemsDone: 0, operationsDone: pending.operationsDone + 1 }
              : { offset: lineStart, itemsDone: index + 1, operationsDone: pending.operationsDone };
            if (batch.length >= backend.maxBatchItems) await sendBatch();
          }
          if (items.length === 0 || skip >= items.length) {
            pending = {
              offset: endOffset,
              itemsDone: 0,
              operationsDone: pending.operationsDone + 1,
            };
          }
        }
        skip = 0;
        lineStart = endOffset;
      }
      await sendBatch();
      if (chunk.endOffset === current.offset && chunk.entries.length === 0) break;
    }
    return result;
  } finally {
    unlock();
  }
}
