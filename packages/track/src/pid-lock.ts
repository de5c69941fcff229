import { randomBytes } from "node:crypto";
import { linkSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { TrackError } from "./track-error";

/** Who holds a lock file, as written in it. */
export interface LockOwner {
  /** Process id of the holder. */
  pid: number;
  /** Host name of the holder; a lock of another host cannot be checked for liveness. */
  host: string;
  /** Unix milliseconds when it was taken. */
  acquiredAt: number;
}

/** A lock file is held by a live process (or one on another host, whose liveness is unknown). */
export class LockHeldError extends TrackError {
  /** The lock file. */
  readonly file: string;
  /** Its holder, when the file could be read. */
  readonly owner: LockOwner | undefined;

  constructor(file: string, owner: LockOwner | undefined) {
    super(
      owner
        ? `${file} is held by process ${owner.pid} on ${owner.host} since ${new Date(owner.acquiredAt).toISOString()}`
        : `${file} is held by a process that is still writing it`,
      { isRetryable: true },
    );
    this.name = "LockHeldError";
    this.file = file;
    this.owner = owner;
  }
}

/** Whether a process with this id runs on this host. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

/** Lock files this process holds now. */
const heldByThisProcess = new Set<string>();

/** A lock file whose content cannot be parsed is taken as stale once it is this old. */
const unreadableStaleMs = 10_000;

/** Reads a lock file's owner; undefined when it is gone; `null` when it is not parseable. */
function readOwner(file: string): LockOwner | undefined | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner> | number;
    // Locks of earlier versions hold only the pid.
    if (typeof parsed === "number") return { pid: parsed, host: hostname(), acquiredAt: 0 };
    if (Number.isInteger(parsed.pid) && typeof parsed.host === "string") {
      return { pid: parsed.pid as number, host: parsed.host, acquiredAt: parsed.acquiredAt ?? 0 };
    }
  } catch {}
  return null;
}

/** Whether the owner of a lock is gone (a dead process on this host, or our own pid reused). */
function isStale(file: string, owner: LockOwner | null): boolean {
  if (owner === null) {
    try {
      return Date.now() - statSync(file).mtimeMs > unreadableStaleMs;
    } catch {
      return true;
    }
  }
  if (owner.host !== hostname()) return false;
  if (owner.pid === process.pid) return !heldByThisProcess.has(file);
  return owner.pid <= 0 || !isProcessAlive(owner.pid);
}

/** Creates `file` holding `content`, atomically: it is never seen empty or half written. */
function linkExclusive(file: string, content: string): boolean {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temporary, content);
  try {
    linkSync(temporary, file);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "EEXIST") return false;
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
}

/**
 * Takes a lock file for this process and returns its release function.
 *
 * The owner (pid, host, time) is written to a temporary file that is then hard-linked into place,
 * so the lock appears atomically with its content and no other process can read it as empty. A
 * lock left by a dead process on this host is taken over under a second lock (`<file>.takeover`),
 * so two processes that both find it stale cannot both take it. Throws {@link LockHeldError}
 * while a live process holds it.
 */
export function acquirePidLock(file: string): () => void {
  if (heldByThisProcess.has(file)) {
    throw new LockHeldError(file, { pid: process.pid, host: hostname(), acquiredAt: Date.now() });
  }
  const content = JSON.stringify({ pid: process.pid, host: hostname(), acquiredAt: Date.now() });
  for (let attempt = 0; attempt < 3; attempt += 1) {
    if (linkExclusive(file, content)) {
      heldByThisProcess.add(file);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        heldByThisProcess.delete(file);
        rmSync(file, { force: true });
      };
    }
    const owner = readOwner(file);
    if (owner === undefined) continue;
    if (!isStale(file, owner)) throw new LockHeldError(file, owner ?? undefined);
    takeOverStale(file, owner);
  }
  throw new LockHeldError(file, readOwner(file) ?? undefined);
}

/** Removes a stale lock, unless another process replaced it meanwhile. */
function takeOverStale(file: string, seen: LockOwner | null): void {
  const guard = `${file}.takeover`;
  const guardContent = JSON.stringify({
    pid: process.pid,
    host: hostname(),
    acquiredAt: Date.now(),
  });
  if (!linkExclusive(guard, guardContent)) {
    // Another process is taking it over now, or crashed while doing so.
    const guardOwner = readOwner(guard);
    if (guardOwner !== undefined && isStale(guard, guardOwner)) rmSync(guard, { force: true });
    return;
  }
  try {
    const now = readOwner(file);
    if (now !== undefined && JSON.stringify(now) === JSON.stringify(seen)) {
      rmSync(file, { force: true });
    }
  } finally {
    rmSync(guard, { force: true });
  }
}
