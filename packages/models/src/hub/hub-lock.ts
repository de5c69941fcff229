import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { repoFolderName } from "./hub-cache";

/** A held lock; release it when the blob is in place (or the download failed). */
export interface HubLock {
  /** The lock file. */
  path: string;
  /** Removes the lock file. */
  release(): Promise<void>;
}

/** Options of {@link lockBlob}. */
export interface LockBlobOptions {
  /** Time between attempts while another process holds the lock, in milliseconds; default 250. */
  pollMs?: number;
  /** Stops waiting. */
  signal?: AbortSignal;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

/**
 * Takes the download lock of a blob, next to huggingface_hub's own
 * (`<cache>/.locks/models--org--name/<etag>.medfm.lock`), so two MedFM.js processes (the jobs
 * of a grid) never append to one `<etag>.incomplete`. The file holds the owner's pid; a lock
 * whose process has died is taken over. Python takes its own `flock` on `<etag>.lock` and
 * downloads to a file of its own, so the two cannot corrupt each other's partial file.
 */
export async function lockBlob(
  cacheDir: string,
  repo: string,
  etag: string,
  options: LockBlobOptions = {},
): Promise<HubLock> {
  const path = join(cacheDir, ".locks", repoFolderName(repo), `${etag}.medfm.lock`);
  await mkdir(dirname(path), { recursive: true });
  for (;;) {
    // Written aside and hard-linked into place: the lock appears atomically, pid included.
    const temporary = `${path}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(temporary, String(process.pid));
    try {
      await link(temporary, path);
      return { path, release: () => rm(path, { force: true }) };
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
    } finally {
      await rm(temporary, { force: true });
    }
    const owner = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
    if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) {
      await rm(path, { force: true });
      continue;
    }
    // Held by a live process: wait for it.
    await sleep(options.pollMs ?? 250, undefined, { signal: options.signal });
  }
}
