import { copyFileSync, mkdirSync, statSync } from "node:fs";
import { basename, join, relative } from "node:path";
import {
  type AppendOptions,
  type AtomType,
  type AtomValue,
  atomTypeOf,
  describe,
  type FieldInput,
  type FieldType,
  isPlainObject,
  mergeAtomType,
  requireType,
  type SeriesPoint,
  validatePath,
} from "./fields";
import type { JournalWriter, PendingOperation } from "./journal";
import { readRun, type StoredRun } from "./read-run";
import { FieldTypeError, RunModeError } from "./track-error";

/** How a run stores and sends what it logs. */
export type RunMode = "async" | "sync" | "offline" | "debug" | "read-only";

/** Sends journaled operations to a remote backend; the run calls it, it never calls the run. */
export interface RunDelivery {
  /** New lines are in the journal; deliver them when convenient. */
  notify(): void;
  /** Delivers everything journaled so far, or throws after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
  /** Delivers what it can within `timeoutMs`, marks the remote run finished, and releases resources. */
  close(status: "finished" | "failed" | "killed", timeoutMs: number): Promise<void>;
}

/** A handle on one field path: what `run["train/loss"]` returns. */
export interface FieldHandle {
  /** The field path. */
  readonly path: string;
  /** Assigns a value, or a nested object of values under this path. */
  assign(value: FieldInput): void;
  /** Appends a point to a float series (numbers) or string series (strings). */
  append(value: number | string, options?: AppendOptions): void;
  /** Appends several points; `steps` and `timestamps`, when given, match `values` in length. */
  extend(
    values: readonly (number | string)[],
    options?: { steps?: readonly number[]; timestamps?: readonly (number | Date)[] },
  ): void;
  /** Adds strings to a string set (like `sys/tags`). */
  add(values: string | readonly string[]): void;
  /** Removes strings from a string set. */
  remove(values: string | readonly string[]): void;
  /** Copies a file into the run and records it as this file field. */
  upload(filePath: string): void;
  /** Uploads several files as `path/<file name>` fields. */
  uploadFiles(filePaths: readonly string[]): void;
  /** The field's type, or undefined when nothing was written to it. */
  type(): FieldType | undefined;
  /** The value of a single-value field, or the members of a string set. */
  fetch(): AtomValue | string[] | undefined;
  /** The points of a series, read from the journal. */
  fetchValues(): SeriesPoint[];
}

/** The members of a run other than its fields. */
export interface RunMembers {
  /** The run id. */
  readonly id: string;
  /** The run folder (`<root>/<id>`), or undefined in `debug` mode, which stores nothing. */
  readonly path: string | undefined;
  /** The project. */
  readonly project: string;
  /** The mode. */
  readonly mode: RunMode;
  /** The handle of a field path, typed (same as `run[path]`). */
  field(path: string): FieldHandle;
  /** Writes every operation so far to the journal, fsyncs it and, for a remote backend, delivers it. */
  wait(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Waits, records the end of the run and releases it; later writes throw. `killed` is for a run
   * stopped on request before its end (Ctrl-C), as MLflow's KILLED.
   */
  stop(options?: { status?: "finished" | "failed" | "killed"; timeoutMs?: number }): Promise<void>;
  /** Reads the whole run back from its journal (not in `debug` mode). */
  fetch(): StoredRun;
}

/**
 * A run: its members, plus one field per path. Reading `run[path]` gives a {@link FieldHandle};
 * assigning `run[path] = value` takes a {@link FieldInput}. TypeScript cannot give the two sides
 * of an index signature different types, so fields are typed `any`; use `run.field(path)` for a
 * strictly typed handle.
 */
// biome-ignore lint/suspicious/noExplicitAny: reads give a FieldHandle, writes take a FieldInput.
export type Run = RunMembers & { [path: string]: any };

interface FieldState {
  type: FieldType | undefined;
  lastStep: number;
  value: AtomValue | undefined;
  set: Set<string> | undefined;
  /** Flat `[step, value, timestamp, ...]` points not yet written to the journal. */
  pending: (number | string)[];
}

/** Options of the run core; set by `initRun`. */
export interface RunCoreOptions {
  id: string;
  project: string;
  mode: RunMode;
  path: string | undefined;
  journal: JournalWriter | undefined;
  delivery: RunDelivery | undefined;
  /** Milliseconds between background journal flushes in async and offline modes. */
  flushIntervalMs: number;
  /** Buffered points that force an immediate flush (bounds memory). */
  maxBufferedPoints: number;
  /** Default timeout of `wait()` and `stop()` for remote delivery. */
  timeoutMs: number;
  /** Fields already stored (when resuming or reading). */
  existing: StoredRun | undefined;
  /** Receives warnings (default: console.warn). */
  warn: (message: string) => void;
}

const memberNames = new Set([
  "id",
  "path",
  "project",
  "mode",
  "field",
  "wait",
  "stop",
  "fetch",
  "toJSON",
  "then",
  "constructor",
]);

/** The state behind a Run proxy. */
export class RunCore {
  readonly id: string;
  readonly project: string;
  readonly mode: RunMode;
  readonly path: string | undefined;
  private readonly journal: JournalWriter | undefined;
  private readonly delivery: RunDelivery | undefined;
  private readonly options: RunCoreOptions;
  private readonly fields = new Map<string, FieldState>();
  private readonly handles = new Map<string, FieldHandle>();
  private readonly dirty: FieldState[] = [];
  private readonly dirtyPaths: string[] = [];
  private operations: PendingOperation[] = [];
  private bufferedPoints = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Points of every series, kept only in debug mode (which has no journal). */
  private readonly memorySeries = new Map<string, SeriesPoint[]>();

  constructor(options: RunCoreOptions) {
    this.options = options;
    this.id = options.id;
    this.project = options.project;
    this.mode = options.mode;
    this.path = options.path;
    this.journal = options.journal;
    this.delivery = options.delivery;
    if (options.existing) this.loadExisting(options.existing);
  }

  private loadExisting(stored: StoredRun): void {
    for (const [path, type] of Object.entries(stored.fieldTypes)) {
      const state = this.state(path);
      state.type = type;
      if (path in stored.values) state.value = stored.values[path];
      if (path in stored.stringSets) state.set = new Set(stored.stringSets[path]);
      const series = stored.series[path];
      if (series?.length) state.lastStep = series[series.length - 1].step;
    }
  }

  private state(path: string): FieldState {
    let state = this.fields.get(path);
    if (!state) {
      state = { type: undefined, lastStep: -1, value: undefined, set: undefined, pending: [] };
      this.fields.set(path, state);
    }
    return state;
  }

  private checkWritable(): void {
    if (this.stopped) throw new RunModeError(`run ${this.id} is stopped; it takes no more writes`);
    if (this.mode === "read-only") {
      throw new RunModeError(`run ${this.id} is open in read-only mode; it takes no writes`);
    }
  }

  /** Returns the cached handle of a path. */
  handle(path: string): FieldHandle {
    let handle = this.handles.get(path);
    if (!handle) {
      validatePath(path);
      handle = this.makeHandle(path, this.state(path));
      this.handles.set(path, handle);
    }
    return handle;
  }

  /** Assigns a value or a nested object of values under `path`. */
  assign(path: string, value: unknown): void {
    this.checkWritable();
    validatePath(path);
    if (isPlainObject(value)) {
      for (const [key, child] of Object.entries(value)) this.assign(`${path}/${key}`, child);
      return;
    }
    if (Array.isArray(value)) {
      // Neptune stringifies unsupported values; we do the same, and say so.
      this.options.warn(
        `@medfm/track: ${path}: an array is stored as the string ${JSON.stringify(JSON.stringify(value)).slice(0, 80)}; use extend() for a series`,
      );
      value = JSON.stringify(value);
    }
    if (value === undefined || value === null) {
      throw new FieldTypeError(path, `cannot assign ${describe(value)}`);
    }
    const state = this.state(path);
    const incoming = atomTypeOf(path, value);
    const type: AtomType = mergeAtomType(path, state.type, incoming);
    let stored: number | boolean | string;
    if (typeof value === "bigint") {
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new FieldTypeError(path, `integer ${value} is beyond 2^53 and would lose precision`);
      }
      stored = Number(value);
    } else if (value instanceof Date) stored = value.getTime();
    else stored = value as number | boolean | string;
    state.type = type;
    state.value = value instanceof Date ? new Date(stored as number) : (stored as AtomValue);
    this.push({
      op: "assign",
      path,
      type,
      value: typeof stored === "number" && !Number.isFinite(stored) ? String(stored) : stored,
    });
  }

  private push(operation: PendingOperation): void {
    if (this.mode === "debug") return;
    this.operations.push(operation);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.mode === "sync") {
      this.flush();
      this.journal?.sync();
      this.delivery?.notify();
      return;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(this.onTimer, this.options.flushIntervalMs);
      this.timer.unref();
    }
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.flush();
    this.delivery?.notify();
  };

  private appendPoint(
    path: string,
    state: FieldState,
    value: number | string,
    step: number | undefined,
    timestamp: number | Date | undefined,
  ): void {
    if (this.stopped || this.mode === "read-only") this.checkWritable();
    let type = state.type;
    if (
      type === undefined ||
      type !== (typeof value === "number" ? "floatSeries" : "stringSeries")
    ) {
      const wanted =
        typeof value === "number"
          ? "floatSeries"
          : typeof value === "string"
            ? "stringSeries"
            : undefined;
      if (wanted === undefined) throw new FieldTypeError(path, `cannot append ${describe(value)}`);
      requireType(path, type, wanted);
      state.type = type = wanted;
    }
    if (step === undefined) step = state.lastStep + 1;
    else if (typeof step !== "number" || !Number.isFinite(step)) {
      throw new FieldTypeError(path, `step must be a finite number, got ${describe(step)}`);
    }
    state.lastStep = step;
    const time =
      timestamp === undefined
        ? Date.now()
        : typeof timestamp === "number"
          ? timestamp
          : timestamp.getTime();
    if (this.mode === "debug") {
      let points = this.memorySeries.get(path);
      if (!points) {
        points = [];
        this.memorySeries.set(path, points);
      }
      points.push({ step, value, timestamp: time });
      return;
    }
    if (state.pending.length === 0) {
      this.dirty.push(state);
      this.dirtyPaths.push(path);
    }
    state.pending.push(step, value, time);
    this.bufferedPoints += 1;
    if (this.mode === "sync" || this.bufferedPoints >= this.options.maxBufferedPoints) {
      this.flush();
      if (this.mode === "sync") this.journal?.sync();
      this.delivery?.notify();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(this.onTimer, this.options.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Writes buffered operations to the journal (no fsync). */
  flush(): void {
    const journal = this.journal;
    if (!journal) return;
    let lines = "";
    for (const operation of this.operations) lines += journal.encode(operation);
    this.operations = [];
    for (let index = 0; index < this.dirty.length; index += 1) {
      const state = this.dirty[index];
      lines += journal.encodeLog(
        this.dirtyPaths[index],
        state.type as "floatSeries" | "stringSeries",
        state.pending,
      );
      state.pending = [];
    }
    this.dirty.length = 0;
    this.dirtyPaths.length = 0;
    this.bufferedPoints = 0;
    journal.write(lines);
  }

  private makeHandle(path: string, state: FieldState): FieldHandle {
    const core = this;
    return {
      path,
      assign(value) {
        core.assign(path, value);
      },
      append(value, options) {
        core.appendPoint(path, state, value, options?.step, options?.timestamp);
      },
      extend(values, options) {
        const steps = options?.steps;
        const timestamps = options?.timestamps;
        for (const [name, list] of [
          ["steps", steps],
          ["timestamps", timestamps],
        ] as const) {
          if (list && list.length !== values.length) {
            throw new FieldTypeError(
              path,
              `extend() got ${values.length} values but ${list.length} ${name}`,
            );
          }
        }
        const now = Date.now();
        for (let index = 0; index < values.length; index += 1) {
          core.appendPoint(path, state, values[index], steps?.[index], timestamps?.[index] ?? now);
        }
      },
      add(values) {
        core.changeSet(path, state, "add", values);
      },
      remove(values) {
        core.changeSet(path, state, "remove", values);
      },
      upload(filePath) {
        core.upload(path, state, filePath);
      },
      uploadFiles(filePaths) {
        for (const filePath of filePaths)
          core.handle(`${path}/${basename(filePath)}`).upload(filePath);
      },
      type() {
        return state.type;
      },
      fetch() {
        if (state.type === "stringSet") return [...(state.set ?? [])].sort();
        return state.value instanceof Date ? new Date(state.value) : state.value;
      },
      fetchValues() {
        if (core.mode === "debug") return [...(core.memorySeries.get(path) ?? [])];
        core.flush();
        return core.fetch().series[path] ?? [];
      },
    };
  }

  private changeSet(
    path: string,
    state: FieldState,
    op: "add" | "remove",
    values: string | readonly string[],
  ): void {
    this.checkWritable();
    const list = typeof values === "string" ? [values] : [...values];
    for (const value of list) {
      if (typeof value !== "string")
        throw new FieldTypeError(path, `a string set takes strings, got ${describe(value)}`);
    }
    requireType(path, state.type, "stringSet");
    state.type = "stringSet";
    state.set ??= new Set();
    for (const value of list) {
      if (op === "add") state.set.add(value);
      else state.set.delete(value);
    }
    this.push({ op, path, values: list });
  }

  private upload(path: string, state: FieldState, filePath: string): void {
    this.checkWritable();
    requireType(path, state.type, "file");
    // validatePath keeps the field's folder inside the run; this keeps the copy inside the folder.
    const name = basename(filePath);
    if (name === "" || name === "." || name === "..") {
      throw new FieldTypeError(path, `cannot upload ${JSON.stringify(filePath)}: it names no file`);
    }
    const size = statSync(filePath).size;
    state.type = "file";
    state.value = basename(filePath);
    if (this.mode === "debug" || !this.path) return;
    const folder = join(this.path, "files", ...path.split("/"));
    mkdirSync(folder, { recursive: true });
    const target = join(folder, basename(filePath));
    copyFileSync(filePath, target);
    this.push({
      op: "upload",
      path,
      file: relative(this.path, target),
      name: basename(filePath),
      size,
    });
  }

  /** See {@link RunMembers.wait}. */
  async wait(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flush();
    this.journal?.sync();
    await this.delivery?.drain(options.timeoutMs ?? this.options.timeoutMs);
  }

  /** See {@link RunMembers.stop}. */
  async stop(
    options: { status?: "finished" | "failed" | "killed"; timeoutMs?: number } = {},
  ): Promise<void> {
    if (this.stopped) return;
    const status = options.status ?? "finished";
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // Everything before the stop line, so the journal's last operation is the stop.
    this.flush();
    if (this.mode !== "read-only" && this.mode !== "debug") {
      this.operations.push({ op: "stop", timestamp: Date.now(), status });
    }
    this.stopped = true;
    this.flush();
    this.journal?.close();
    activeRuns.delete(this);
    updateExitHooks();
    await this.delivery?.close(status, options.timeoutMs ?? this.options.timeoutMs);
  }

  /** Flushes the journal synchronously; used at exit and on signals. */
  flushForExit(): void {
    if (this.stopped) return;
    this.flush();
    this.journal?.sync();
  }

  /**
   * Journals the end of the run synchronously, without remote delivery: for a process that exits
   * (`process.exit`) with the run still open, when nothing asynchronous can run any more.
   * `medfm track sync` delivers the rest.
   */
  stopForExit(status: "finished" | "failed" | "killed"): void {
    if (this.stopped) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flush();
    if (this.mode !== "read-only" && this.mode !== "debug") {
      this.operations.push({ op: "stop", timestamp: Date.now(), status });
    }
    this.stopped = true;
    this.flush();
    this.journal?.close();
    activeRuns.delete(this);
  }

  /** Whether `stop()` has run. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Reads the run back from its journal. */
  fetch(): StoredRun {
    if (!this.path)
      throw new RunModeError(`run ${this.id} is in debug mode and stores nothing to read`);
    this.flush();
    return readRun(this.path);
  }

  /** Registers the run for flushing at exit. */
  activate(): void {
    if (this.mode === "debug" || this.mode === "read-only") return;
    for (const run of activeRuns) {
      if (run.path === this.path)
        throw new RunModeError(`run ${this.id} is open in this process; stop it first`);
    }
    activeRuns.add(this);
    updateExitHooks();
  }

  /** Builds the Run proxy over this core. */
  toRun(): Run {
    const core = this;
    const members: RunMembers = {
      get id() {
        return core.id;
      },
      get path() {
        return core.path;
      },
      get project() {
        return core.project;
      },
      get mode() {
        return core.mode;
      },
      field: (path) => core.handle(path),
      wait: (options) => core.wait(options),
      stop: (options) => core.stop(options),
      fetch: () => core.fetch(),
    };
    return new Proxy(members as Run, {
      get(target, property, receiver) {
        if (typeof property === "symbol" || memberNames.has(property)) {
          return Reflect.get(target, property, receiver);
        }
        return core.handle(property);
      },
      set(_target, property, value) {
        if (typeof property === "symbol" || memberNames.has(property)) {
          throw new RunModeError(`"${String(property)}" is a member of the run, not a field path`);
        }
        core.assign(property, value);
        return true;
      },
      has(target, property) {
        return typeof property === "string" && !memberNames.has(property)
          ? core.fields.get(property)?.type !== undefined
          : Reflect.has(target, property);
      },
    });
  }
}

const activeRuns = new Set<RunCore>();

/** Whether a run stored in `folder` is open (not stopped) in this process. */
export function isRunOpen(folder: string): boolean {
  for (const run of activeRuns) if (run.path === folder) return true;
  return false;
}
let hooksInstalled = false;
/** Holders of {@link takeOverSignals} that have not handed signals back yet. */
let signalOwners = 0;

/**
 * Hands `SIGINT` and `SIGTERM` to the application until the returned function is called (call it
 * once; several owners may overlap). Without it, a signal stops open runs as `killed` and exits
 * the process, unless another listener of that signal is registered at that moment. An
 * application that finishes its work first (a trainer saving a checkpoint, say) takes the
 * signals over: a signal then only writes and fsyncs open runs' journals, and the application
 * stops its runs and exits. A run still open when the process exits is journaled as stopped
 * (`finished` for exit code 0, `killed` above 128, else `failed`), so a hard exit loses nothing.
 *
 * @example
 * const release = takeOverSignals();
 * process.on("SIGINT", () => controller.abort());
 * try { await train(run, controller.signal); await run.stop({ status: "killed" }); }
 * finally { release(); }
 */
export function takeOverSignals(): () => void {
  signalOwners += 1;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    signalOwners -= 1;
  };
}

function onBeforeExit(): void {
  for (const run of activeRuns) run.flushForExit();
  // Remote delivery keeps the event loop busy until it is done; a run still active here was never
  // stopped, so stop it, which delivers and ends the remote run.
  for (const run of [...activeRuns]) void run.stop().catch(() => {});
}

function onExit(code: number): void {
  // process.exit() skips beforeExit and ends every pending promise: journal what is left. Codes
  // above 128 are signals' (130 for SIGINT); others say the program failed (1: an uncaught error).
  const status = code === 0 ? "finished" : code > 128 ? "killed" : "failed";
  for (const run of [...activeRuns]) run.stopForExit(status);
}

function onSignal(signal: NodeJS.Signals): void {
  const runs = [...activeRuns];
  for (const run of runs) run.flushForExit();
  // An application that took the signals over (takeOverSignals) stops its runs and exits itself.
  // One that merely listens too (say, to finish the batch and log final values) keeps them open
  // for as long as its listener is registered. Otherwise the runs are stopped as killed,
  // delivered for up to 5 s, and the process exits as the signal's default would.
  if (signalOwners > 0 || process.listenerCount(signal) > 1) return;
  const exitCode = 128 + (signal === "SIGINT" ? 2 : 15);
  void Promise.allSettled(runs.map((run) => run.stop({ status: "killed", timeoutMs: 5000 }))).then(
    () => process.exit(exitCode),
  );
}

function updateExitHooks(): void {
  if (activeRuns.size > 0 && !hooksInstalled) {
    process.on("beforeExit", onBeforeExit);
    process.on("exit", onExit);
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    hooksInstalled = true;
  } else if (activeRuns.size === 0 && hooksInstalled) {
    process.off("beforeExit", onBeforeExit);
    process.off("exit", onExit);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    hooksInstalled = false;
  }
}
