import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";

/** Name of the lock file a training keeps in its output folder while it runs. */
export const outputLockFileName = ".medfm-train.lock";

/** Who holds an output folder: what the lock file records. */
export interface OutputLockOwner {
  pid: number;
  hostname: string;
  /** ISO time the lock was taken. */
  startedAt: string;
  /** The command line of the holder. */
  command: string;
  /** Random per lock, so a process tells its own lock from a later one with a reused pid. */
  token: string;
}

const lockedMarker = Symbol.for("medfm.cli.OutputFolderLockedError");
const notWritableMarker = Symbol.for("medfm.cli.OutputFolderNotWritableError");

/** Error thrown when another live process trains into the same output folder. */
export class OutputFolderLockedError extends Error {
  /** Marks instances across copies of the package (see {@link OutputFolderLockedError.isInstance}). */
  readonly [lockedMarker] = true;

  constructor(
    /** The output folder. */
    readonly folder: string,
    /** The lock file's owner, or undefined when the file could not be read. */
    readonly holder: OutputLockOwner | undefined,
  ) {
    const lockFile = join(folder, outputLockFileName);
    const who = holder
      ? `pid ${holder.pid} on ${holder.hostname}, since ${holder.startedAt}: ${holder.command}`
      : "a lock file that cannot be read";
    super(
      `${folder} is in use by another training (${who}); wait for it or pick another --output. ` +
        `If no training uses it, delete ${lockFile}.`,
    );
    this.name = "OutputFolderLockedError";
  }

  /** Whether `error` is an {@link OutputFolderLockedError}, across package copies. */
  static isInstance(error: unknown): error is OutputFolderLockedError {
    return (
      typeof error === "object" &&
      error !== null &&
      (error as Record<symbol, unknown>)[lockedMarker] === true
    );
  }
}

/** Error thrown when checkpoints could not be written into the output folder. */
export class OutputFolderNotWritableError extends Error {
  /** Marks instances across copies of the package (see {@link OutputFolderNotWritableError.isInstance}). */
  readonly [notWritableMarker] = true;

  constructor(
    /** The output folder. */
    readonly folder: string,
    /** The file system error. */
    override readonly cause: NodeJS.ErrnoException,
  ) {
    super(
      `cannot write checkpoints into ${folder}: ${cause.code ?? "error"} (${cause.message}); ` +
        "pick a writable --output",
    );
    this.name = "OutputFolderNotWritableError";
  }

  /** Whether `error` is an {@link OutputFolderNotWritableError}, across package copies. */
  static isInstance(error: unknown): error is OutputFolderNotWritableError {
    return (
      typeof error === "object" &&
      error !== null &&
      (error as Record<symbol, unknown>)[notWritableMarker] === true
    );
  }
}

/** A held output folder; see {@link lockOutputFolder}. */
export interface OutputLock {
  /** The output folder, absolute. */
  readonly folder: string;
  /** Deletes the lock file if it is still this lock's. Safe to call more than once. */
  release(): void;
}

function readOwner(file: string): OutputLockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(file, "utf8")) as OutputLockOwner;
    return Number.isInteger(owner.pid) && typeof owner.token === "string" ? owner : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(owner: OutputLockOwner): boolean {
  // A pid on another machine (a shared file system) cannot be checked: count it as alive.
  if (owner.hostname !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes the output folder of a training for this process, before any training work: creates
 * it, then creates `.medfm-train.lock` atomically (the owner is written to a private file that
 * is then hard-linked into place, so no one ever reads a half-written lock). Creating the lock is
 * also the check that checkpoints can be written there. A lock whose process is dead is stale
 * and taken over. Throws {@link OutputFolderLockedError} naming the folder and the holder, or
 * {@link OutputFolderNotWritableError} naming the folder. The lock is released by `release()`
 * and, failing that, when the process exits.
 */
export function lockOutputFolder(output: string): OutputLock {
  const folder = resolve(output);
  const lockFile = join(folder, outputLockFileName);
  const owner: OutputLockOwner = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    command: process.argv.slice(1).join(" "),
    token: randomBytes(8).toString("hex"),
  };
  const content = `${JSON.stringify(owner)}\n`;
  const temporary = `${lockFile}.${process.pid}.${owner.token}`;
  try {
    mkdirSync(folder, { recursive: true });
    writeFileSync(temporary, content, { flag: "wx" });
  } catch (error) {
    throw new OutputFolderNotWritableError(folder, error as NodeJS.ErrnoException);
  }
  try {
    // Two attempts: the second after taking over a stale lock.
    for (let attempt = 0; ; attempt += 1) {
      try {
        linkSync(temporary, lockFile);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST")
          throw new OutputFolderNotWritableError(folder, error as NodeJS.ErrnoException);
      }
      const holder = readOwner(lockFile);
      if (attempt > 0 || holder === undefined || isAlive(holder))
        throw new OutputFolderLockedError(folder, holder);
      // Stale. Move it aside under a unique name, and check that what moved is the lock that was
      // read: another process may have taken the stale lock over in between.
      const aside = `${lockFile}.stale.${owner.token}`;
      try {
        renameSync(lockFile, aside);
      } catch {
        continue; // gone already: someone else took it over, or released it
      }
      const moved = readOwner(aside);
      if (moved?.token !== holder.token) {
        try {
          linkSync(aside, lockFile); // put the live lock back
        } catch {}
        unlinkSync(aside);
        throw new OutputFolderLockedError(folder, moved);
      }
      unlinkSync(aside);
    }
  } finally {
    unlinkSync(temporary);
  }
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off("exit", release);
    if (readOwner(lockFile)?.token !== owner.token) return;
    try {
      unlinkSync(lockFile);
    } catch {}
  };
  process.on("exit", release);
  return { folder, release };
}
