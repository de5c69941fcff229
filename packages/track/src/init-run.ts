import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { mlflow } from "./backends/mlflow";
import { JournalWriter } from "./journal";
import { resolveMode } from "./modes";
import { defaultRunsRoot, journalFileName, readRun, type StoredRun } from "./read-run";
import { isRunOpen, type Run, RunCore, type RunDelivery, type RunMode } from "./run";
import { RunModeError } from "./track-error";

/** Options of {@link initRun}. */
export interface InitRunOptions {
  /** The project; defaults to `MEDFM_TRACK_PROJECT`, else `default`. */
  project?: string;
  /** A human name for the run, stored as `sys/name`. */
  name?: string;
  /** Tags, stored in the `sys/tags` string set. */
  tags?: readonly string[];
  /** The mode; defaults to `MEDFM_TRACK_MODE`, else `async`. */
  mode?: RunMode;
  /**
   * Where runs go besides the local journal: `file` (the journal is the store), `mlflow` (the
   * server at `MEDFM_TRACK_URI`), or a factory like `mlflow({ uri })`. Defaults to `mlflow` when
   * `MEDFM_TRACK_URI` is set, else `file`.
   */
  backend?: "file" | "mlflow" | RemoteBackendFactory;
  /** The runs root; defaults to `MEDFM_TRACK_ROOT`, else `./.medfm/runs`. */
  root?: string;
  /** Id of an existing run, to resume it (or to open it in `read-only` mode). */
  id?: string;
  /** Milliseconds between background journal flushes (async and offline modes); default 100. */
  flushIntervalMs?: number;
  /** Buffered points that force an immediate journal write, bounding memory; default 50,000. */
  maxBufferedPoints?: number;
  /** How long `wait()` and `stop()` wait for remote delivery, in milliseconds; default 60,000. */
  timeoutMs?: number;
  /** Receives warnings; defaults to `console.warn`. */
  warn?: (message: string) => void;
}

/** What a remote backend plugs into a run: a name, a credential-free URI and a delivery. */
export interface RemoteBackendFactory {
  /** Backend name journaled in the header, like `mlflow`. */
  readonly name: string;
  /** The server URI without credentials, journaled in the header. */
  readonly uri: string;
  /** Makes the delivery of a run's journal; not called in `offline`, `debug` or `read-only` mode. */
  createDelivery(
    runFolder: string,
    options: { mode: RunMode; warn: (message: string) => void },
  ): RunDelivery;
}

/** Makes a run id: UTC time to the second, then 6 random hex digits, so ids sort by time. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

/**
 * Starts (or resumes, or opens read-only) a run and returns it.
 *
 * @example
 * const run = initRun({ project: "chest", tags: ["densenet"] });
 * run["params"] = { lr: 0.1, optimizer: "sgd" };
 * run["train/loss"].append(0.69);
 * await run.stop();
 */
export function initRun(options: InitRunOptions = {}): Run {
  const mode = resolveMode(options.mode);
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const project = options.project ?? process.env.MEDFM_TRACK_PROJECT ?? "default";
  const root = options.root ? resolve(options.root) : defaultRunsRoot();
  const chosen = options.backend ?? (process.env.MEDFM_TRACK_URI ? "mlflow" : "file");
  const backend = chosen === "mlflow" ? mlflow({ warn }) : chosen;
  const id = options.id ?? newRunId();
  const folder = mode === "debug" ? undefined : join(root, id);
  const journalFile = folder ? join(folder, journalFileName) : undefined;
  let existing: StoredRun | undefined;
  let journal: JournalWriter | undefined;
  if (mode === "read-only") {
    if (!options.id) throw new RunModeError("read-only mode needs the id of an existing run");
    existing = readRun(folder as string);
  } else if (folder && journalFile) {
    if (options.id && existsSync(journalFile)) {
      if (isRunOpen(folder))
        throw new RunModeError(`run ${id} is open in this process; stop it first`);
      // The writer lock first, so no other process appends while the run is read back.
      journal = JournalWriter.open(journalFile, { warn });
      try {
        existing = readRun(folder);
        if (existing.status !== "running") {
          throw new RunModeError(
            `run ${id} in ${folder} is ${existing.status}; it cannot be resumed`,
          );
        }
      } catch (error) {
        journal.close();
        throw error;
      }
    } else {
      mkdirSync(folder, { recursive: true });
      journal = JournalWriter.create(journalFile, {
        runId: id,
        project,
        backend: typeof backend === "string" ? backend : backend.name,
        ...(typeof backend === "string" ? {} : { uri: backend.uri }),
        mode,
        createdAt: Date.now(),
      });
    }
  }
  const delivery =
    typeof backend !== "string" && folder && (mode === "async" || mode === "sync")
      ? backend.createDelivery(folder, { mode, warn })
      : undefined;
  const core = new RunCore({
    id,
    project,
    mode,
    path: folder,
    journal,
    delivery,
    flushIntervalMs: options.flushIntervalMs ?? 100,
    maxBufferedPoints: options.maxBufferedPoints ?? 50_000,
    timeoutMs: options.timeoutMs ?? 60_000,
    existing,
    warn,
  });
  const run = core.toRun();
  if (mode !== "read-only") {
    if (!existing) {
      run["sys/id"] = id;
      run["sys/creation_time"] = new Date();
      if (options.name !== undefined) run["sys/name"] = options.name;
    } else if (options.name !== undefined) run["sys/name"] = options.name;
    if (options.tags?.length) run["sys/tags"].add(options.tags);
    core.activate();
    // The name and tags must be in the journal before delivery creates the remote run.
    core.flush();
    delivery?.notify();
  }
  return run;
}
