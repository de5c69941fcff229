import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { AtomValue, FieldType, SeriesPoint } from "./fields";
import { decodeFloat, type JournalOperation, readJournal } from "./journal";
import { JournalError } from "./track-error";

/** The name of a run's journal file inside its folder. */
export const journalFileName = "journal.jsonl";

/** A file field as stored. */
export interface StoredFile {
  /** Absolute path of the stored copy. */
  file: string;
  /** The original file name. */
  name: string;
  /** Size in bytes. */
  size: number;
}

/** A run read back from its folder. */
export interface StoredRun {
  /** The run id. */
  id: string;
  /** The run folder. */
  path: string;
  /** The project. */
  project: string;
  /** The backend the run was created for. */
  backend: string;
  /** The mode it was created in. */
  mode: string;
  /** When it was created. */
  createdAt: Date;
  /** `running` until `stop()` is journaled; then how it ended. */
  status: "running" | "finished" | "failed" | "killed";
  /** When it stopped, if it did. */
  stoppedAt: Date | undefined;
  /** Every field path and its type. */
  fieldTypes: Record<string, FieldType>;
  /** Values of the single-value fields (float, int, bool, string, datetime), by path. */
  values: Record<string, AtomValue>;
  /** The values under `params/`, by path relative to `params/`. */
  params: Record<string, AtomValue>;
  /** Series by path, points in the order they were appended. */
  series: Record<string, SeriesPoint[]>;
  /** String sets by path, sorted. */
  stringSets: Record<string, string[]>;
  /** File fields by path. */
  files: Record<string, StoredFile>;
  /** The run's tags (`sys/tags`), sorted. */
  tags: string[];
  /** The last journaled sequence number. */
  lastSeq: number;
  /** Whether the journal ends in a line cut short by a crash (that line is left out). */
  tornTail: boolean;
}

/** Replays journal operations into a {@link StoredRun}; `into` is updated in place. */
export function applyOperations(
  into: StoredRun,
  operations: Iterable<JournalOperation>,
): StoredRun {
  for (const operation of operations) {
    into.lastSeq = operation.seq;
    switch (operation.op) {
      case "assign": {
        into.fieldTypes[operation.path] = operation.type;
        const value =
          operation.type === "datetime"
            ? new Date(operation.value as number)
            : operation.type === "float"
              ? decodeFloat(operation.value as number | string)
              : operation.value;
        into.values[operation.path] = value;
        if (operation.path.startsWith("params/")) into.params[operation.path.slice(7)] = value;
        break;
      }
      case "log": {
        into.fieldTypes[operation.path] = operation.type;
        let points = into.series[operation.path];
        if (!points) {
          points = [];
          into.series[operation.path] = points;
        }
        const float = operation.type === "floatSeries";
        for (const [step, value, timestamp] of operation.points) {
          points.push({ step, value: float ? decodeFloat(value) : value, timestamp });
        }
        break;
      }
      case "add":
      case "remove": {
        into.fieldTypes[operation.path] = "stringSet";
        const set = new Set(into.stringSets[operation.path] ?? []);
        for (const value of operation.values) {
          if (operation.op === "add") set.add(value);
          else set.delete(value);
        }
        into.stringSets[operation.path] = [...set].sort();
        if (operation.path === "sys/tags") into.tags = into.stringSets[operation.path];
        break;
      }
      case "upload":
        into.fieldTypes[operation.path] = "file";
        into.files[operation.path] = {
          file: resolve(into.path, operation.file),
          name: operation.name,
          size: operation.size,
        };
        break;
      case "stop":
        into.status = operation.status;
        into.stoppedAt = new Date(operation.timestamp);
        break;
    }
  }
  return into;
}

/** Reads a stored run from its folder (the `run.path` of a run). */
export function readRun(path: string): StoredRun {
  const folder = resolve(path);
  const { header, entries, tornTail } = readJournal(join(folder, journalFileName));
  const run: StoredRun = {
    id: header.runId,
    path: folder,
    project: header.project,
    backend: header.backend,
    mode: header.mode,
    createdAt: new Date(header.createdAt),
    status: "running",
    stoppedAt: undefined,
    fieldTypes: {},
    values: {},
    params: {},
    series: {},
    stringSets: {},
    files: {},
    tags: [],
    lastSeq: 0,
    tornTail,
  };
  return applyOperations(
    run,
    entries.map((entry) => entry.operation),
  );
}

/** Lists the run folders under a root (default `./.medfm/runs`), oldest first. */
export function listRuns(root = defaultRunsRoot()): string[] {
  const folder = resolve(root);
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .map((name) => join(folder, name))
    .filter((candidate) => existsSync(join(candidate, journalFileName)))
    .sort((a, b) => statSync(a).birthtimeMs - statSync(b).birthtimeMs || a.localeCompare(b));
}

/** The default runs root: `MEDFM_TRACK_ROOT`, else `./.medfm/runs` under the working directory. */
export function defaultRunsRoot(): string {
  return resolve(process.env.MEDFM_TRACK_ROOT ?? join(".medfm", "runs"));
}

/** Throws a JournalError unless `path` holds a run. */
export function assertRunFolder(path: string): void {
  if (!existsSync(join(path, journalFileName))) {
    throw new JournalError(join(path, journalFileName), undefined, "no run is stored here");
  }
}
