import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import type { AtomType } from "./fields";
import { acquirePidLock, LockHeldError } from "./pid-lock";
import { JournalError, RunBusyError } from "./track-error";

/** The name of the lock file a journal's writer holds, inside the run folder. */
export const writerLockFileName = "writer.lock";

/** Takes the writer lock of the run folder holding `file`, or throws a RunBusyError. */
function lockWriter(file: string): () => void {
  const folder = dirname(file);
  try {
    return acquirePidLock(join(folder, writerLockFileName));
  } catch (error) {
    if (!(error instanceof LockHeldError)) throw error;
    const owner = error.owner;
    const holder = owner
      ? `${owner.pid === process.pid ? "this process" : `process ${owner.pid}`} on ${owner.host} since ${new Date(owner.acquiredAt).toISOString()}`
      : "another process";
    throw new RunBusyError(folder, holder, owner?.pid);
  }
}

/** The journal format version this package writes and reads. */
export const journalVersion = 1;

/** The first line of every journal. */
export interface JournalHeader {
  /** Always `medfm-track-journal`. */
  format: "medfm-track-journal";
  /** The format version ({@link journalVersion}). */
  version: number;
  /** The run id. */
  runId: string;
  /** The project the run belongs to. */
  project: string;
  /** The backend the run was created for (`file`, `mlflow`, ...). */
  backend: string;
  /** The backend's URI without credentials, when it has one. */
  uri?: string;
  /** The mode the run was created in. */
  mode: string;
  /** Unix milliseconds of creation. */
  createdAt: number;
}

/** One journal operation, as read back. `seq` numbers them from 1 without gaps. */
export type JournalOperation =
  | { seq: number; op: "assign"; path: string; type: AtomType; value: number | boolean | string }
  | {
      seq: number;
      op: "log";
      path: string;
      type: "floatSeries" | "stringSeries";
      /** `[step, value, timestamp]` triplets; floats that are not finite are stored as strings. */
      points: [number, number | string, number][];
    }
  | { seq: number; op: "add"; path: string; values: string[] }
  | { seq: number; op: "remove"; path: string; values: string[] }
  | { seq: number; op: "upload"; path: string; file: string; name: string; size: number }
  | { seq: number; op: "stop"; timestamp: number; status: "finished" | "failed" | "killed" };

/** An operation without its sequence number, as a run emits it. */
export type PendingOperation = JournalOperation extends infer T
  ? T extends { seq: number }
    ? Omit<T, "seq">
    : never
  : never;

/** A read operation and the byte offset just past its line. */
export interface JournalEntry {
  /** The operation. */
  operation: JournalOperation;
  /** Byte offset of the end of its line (where the next line starts). */
  endOffset: number;
}

/** Encodes a float so that NaN and the infinities survive JSON. */
export function encodeFloat(value: number): string {
  return Number.isFinite(value) ? String(value) : `"${value}"`;
}

/** Decodes a float written by {@link encodeFloat}. */
export function decodeFloat(value: number | string): number {
  return typeof value === "number" ? value : Number(value);
}

/**
 * Appends versioned JSON lines to a run's journal.
 *
 * Fsync policy: lines are written with one `write(2)` per flush, so a process crash (even
 * SIGKILL) keeps every flushed line, since the kernel holds it; `sync()` calls `fdatasync(2)`,
 * which a run does on `wait()`, `stop()` and, in `sync` mode, after every operation. Only an
 * operating-system crash or power loss can lose lines written since the last `sync()`.
 *
 * A journal has one writer at a time, across processes: the writer holds `writer.lock` in the
 * run folder from `create` or `open` until `close`. A lock left by a process that died is taken
 * over; one of a live process makes `create` and `open` throw a {@link RunBusyError}.
 */
export class JournalWriter {
  /** The journal file. */
  readonly file: string;
  private fd: number | undefined;
  private nextSeq: number;
  private dirty = false;
  private readonly unlock: () => void;

  private constructor(file: string, fd: number, nextSeq: number, unlock: () => void) {
    this.file = file;
    this.fd = fd;
    this.nextSeq = nextSeq;
    this.unlock = unlock;
  }

  /** Creates a new journal with its header line; fails if the file exists. */
  static create(file: string, header: Omit<JournalHeader, "format" | "version">): JournalWriter {
    const unlock = lockWriter(file);
    try {
      const fd = openSync(file, "wx");
      const full: JournalHeader = {
        format: "medfm-track-journal",
        version: journalVersion,
        ...header,
      };
      writeSync(fd, `${JSON.stringify(full)}\n`);
      fdatasyncSync(fd);
      return new JournalWriter(file, fd, 1, unlock);
    } catch (error) {
      unlock();
      throw error;
    }
  }

  /**
   * Opens an existing journal to append to it, continuing its sequence numbers. A last line cut
   * short by a crash is cut off first (else the next line would be glued to it and the journal
   * unreadable), with a warning that says how many bytes went.
   */
  static open(file: string, options: { warn?: (message: string) => void } = {}): JournalWriter {
    const unlock = lockWriter(file);
    try {
      const { entries, tornTail, endOffset } = readJournal(file);
      const fd = openSync(file, "r+");
      try {
        const size = fstatSync(fd).size;
        if (tornTail && size > endOffset) {
          ftruncateSync(fd, endOffset);
          fdatasyncSync(fd);
          const last = entries.at(-1)?.operation.seq;
          (options.warn ?? ((message: string) => console.warn(message)))(
            `@medfm/track: ${file}: the last line (${size - endOffset} bytes at byte ${endOffset}) was cut short by a crash; the journal is truncated to its last complete record${last === undefined ? " (the header)" : ` (seq ${last})`} before the run resumes`,
          );
        }
      } finally {
        closeSync(fd);
      }
      const last = entries.at(-1);
      return new JournalWriter(
        file,
        openSync(file, "a"),
        last ? last.operation.seq + 1 : 1,
        unlock,
      );
    } catch (error) {
      unlock();
      throw error;
    }
  }

  /** The sequence number the next operation gets. */
  get sequence(): number {
    return this.nextSeq;
  }

  /** Serializes one operation, giving it the next sequence number; call `write` to store it. */
  encode(operation: PendingOperation): string {
    const seq = this.nextSeq++;
    if (operation.op === "log") {
      // Hand-built so that non-finite floats survive and long series serialize fast.
      let body = "";
      for (let index = 0; index < operation.points.length; index += 1) {
        const [step, value, timestamp] = operation.points[index];
        const encoded = typeof value === "number" ? encodeFloat(value) : JSON.stringify(value);
        body += `${index === 0 ? "" : ","}[${step},${encoded},${timestamp}]`;
      }
      return `{"seq":${seq},"op":"log","path":${JSON.stringify(operation.path)},"type":"${operation.type}","points":[${body}]}\n`;
    }
    return `${JSON.stringify({ seq, ...operation })}\n`;
  }

  /** Serializes a log operation from flat `[step, value, timestamp, ...]` points. */
  encodeLog(
    path: string,
    type: "floatSeries" | "stringSeries",
    flat: readonly (number | string)[],
  ): string {
    const seq = this.nextSeq++;
    let body = "";
    for (let index = 0; index < flat.length; index += 3) {
      const value = flat[index + 1];
      const encoded = typeof value === "number" ? encodeFloat(value) : JSON.stringify(value);
      body += `${index === 0 ? "" : ","}[${flat[index]},${encoded},${flat[index + 2]}]`;
    }
    return `{"seq":${seq},"op":"log","path":${JSON.stringify(path)},"type":"${type}","points":[${body}]}\n`;
  }

  /** Writes encoded lines in one call. */
  write(lines: string): void {
    if (this.fd === undefined) throw new JournalError(this.file, undefined, "journal is closed");
    if (lines.length === 0) return;
    writeSync(this.fd, lines);
    this.dirty = true;
  }

  /** Forces written lines to disk (`fdatasync`). */
  sync(): void {
    if (this.fd !== undefined && this.dirty) {
      fdatasyncSync(this.fd);
      this.dirty = false;
    }
  }

  /** Syncs and closes the file, and releases the writer lock. */
  close(): void {
    if (this.fd === undefined) return;
    try {
      this.sync();
      closeSync(this.fd);
    } finally {
      this.fd = undefined;
      this.unlock();
    }
  }
}

/** Parses a journal's header line, naming the file at fault. */
function parseHeader(file: string, line: string): JournalHeader {
  let header: JournalHeader;
  try {
    header = JSON.parse(line);
  } catch {
    throw new JournalError(file, 1, "the header line is not JSON");
  }
  if (header.format !== "medfm-track-journal") {
    throw new JournalError(
      file,
      1,
      `not a medfm-track journal (format ${JSON.stringify(header.format)})`,
    );
  }
  if (header.version !== journalVersion) {
    throw new JournalError(
      file,
      1,
      `journal version ${header.version} is not supported (this package reads version ${journalVersion})`,
    );
  }
  return header;
}

/**
 * Reads a journal: its header and the complete operations from byte `fromOffset` on (0 reads
 * all), at most about `maxBytes` of lines. A last line without its newline (a write cut short by
 * a crash, or one being written) is left out and reported as `tornTail`; a malformed line
 * anywhere else throws. `endOffset` is where the next read should start.
 */
export function readJournal(
  file: string,
  fromOffset = 0,
  maxBytes = Number.POSITIVE_INFINITY,
): { header: JournalHeader; entries: JournalEntry[]; tornTail: boolean; endOffset: number } {
  if (!existsSync(file)) throw new JournalError(file, undefined, "no journal at this path");
  const { header, headerEnd } = readHeaderAndEnd(file);
  const fd = openSync(file, "r");
  let buffer: Buffer;
  let start = Math.max(fromOffset, headerEnd);
  try {
    const size = fstatSync(fd).size;
    const length = Math.max(0, Math.min(size - start, maxBytes));
    buffer = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const count = readSync(fd, buffer, read, length - read, start + read);
      if (count === 0) break;
      read += count;
    }
    buffer = buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
  const base = start;
  const entries: JournalEntry[] = [];
  let position = 0;
  let lineNumber = start === headerEnd ? 2 : Number.NaN;
  let expectedSeq: number | undefined;
  let tornTail = false;
  while (position < buffer.length) {
    const end = buffer.indexOf(10, position);
    if (end < 0) {
      // With a byte limit, a partial line is simply the next read's start.
      tornTail = base + buffer.length >= fstatSizeOf(file);
      break;
    }
    const text = buffer.toString("utf8", position, end);
    let operation: JournalOperation;
    try {
      operation = JSON.parse(text);
    } catch {
      throw new JournalError(
        file,
        Number.isNaN(lineNumber) ? undefined : lineNumber,
        `malformed line at byte ${base + position}: ${text.slice(0, 80)}`,
      );
    }
    if (expectedSeq !== undefined && operation.seq !== expectedSeq) {
      throw new JournalError(
        file,
        Number.isNaN(lineNumber) ? undefined : lineNumber,
        `sequence jumps from ${expectedSeq - 1} to ${operation.seq}`,
      );
    }
    expectedSeq = operation.seq + 1;
    entries.push({ operation, endOffset: base + end + 1 });
    position = end + 1;
    lineNumber += 1;
  }
  start = base + position;
  return { header, entries, tornTail, endOffset: start };
}

function fstatSizeOf(file: string): number {
  const fd = openSync(file, "r");
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

/** Reads only a journal's header line. */
export function readJournalHeader(file: string): JournalHeader {
  return readHeaderAndEnd(file).header;
}

function readHeaderAndEnd(file: string): { header: JournalHeader; headerEnd: number } {
  const fd = openSync(file, "r");
  try {
    const size = Math.min(fstatSync(fd).size, 64 * 1024);
    const buffer = Buffer.alloc(size);
    readSync(fd, buffer, 0, size, 0);
    const newline = buffer.indexOf(10);
    if (newline < 0) throw new JournalError(file, 1, "the header line is missing or incomplete");
    return {
      header: parseHeader(file, buffer.toString("utf8", 0, newline)),
      headerEnd: newline + 1,
    };
  } finally {
    closeSync(fd);
  }
}
