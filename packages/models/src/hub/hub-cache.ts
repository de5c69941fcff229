import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { isCommitHash, validateRelativePath, validateRepoId } from "./hub-endpoint";

/**
 * One repository's folder in huggingface_hub's cache:
 * ```
 * models--org--name/
 *   blobs/<etag>                      file contents, named by ETag (sha256 for LFS files)
 *   snapshots/<commit>/<filename>     relative symlink to ../../blobs/<etag>
 *   refs/<revision>                   the commit hash the branch or tag pointed at
 *   .no_exist/<commit>/<filename>     empty: the file is known to be absent at that commit
 * ```
 * Python and MedFM.js read and write the same folders, so either reuses the other's downloads.
 */
export interface HubRepoCache {
  /** The repository id. */
  repo: string;
  /** `<cacheDir>/models--org--name`. */
  storageDir: string;
  /** Path of the blob of an ETag. */
  blobPath(etag: string): string;
  /** Path of the partial download of an ETag (`<etag>.incomplete`, resumed with a Range request). */
  incompletePath(etag: string): string;
  /** The snapshot folder of a commit. */
  snapshotDir(commit: string): string;
  /** Path of a file in a commit's snapshot (the symlink to its blob). */
  pointerPath(commit: string, filename: string): string;
  /** Path of the file holding a branch's or tag's commit. */
  refPath(revision: string): string;
  /** Path of the marker saying a file is absent at a commit. */
  noExistPath(commit: string, filename: string): string;
}

/** huggingface_hub's `repo_folder_name` for a model repository: `models--org--name`. */
export function repoFolderName(repo: string): string {
  validateRepoId(repo);
  return ["models", ...repo.split("/")].join("--");
}

/** The {@link HubRepoCache} of a repository inside a cache folder. */
export function hubRepoCache(cacheDir: string, repo: string): HubRepoCache {
  const storageDir = join(cacheDir, repoFolderName(repo));
  const checkedEtag = (etag: string) => {
    if (!/^[\w.-]+$/.test(etag)) throw new Error(`unusable ETag ${JSON.stringify(etag)}`);
    return etag;
  };
  const checkedFile = (filename: string) => {
    validateRelativePath("file name", filename);
    return filename;
  };
  const checkedCommit = (commit: string) => {
    validateRelativePath("revision", commit);
    return commit;
  };
  return {
    repo,
    storageDir,
    blobPath: (etag) => join(storageDir, "blobs", checkedEtag(etag)),
    incompletePath: (etag) => join(storageDir, "blobs", `${checkedEtag(etag)}.incomplete`),
    snapshotDir: (commit) => join(storageDir, "snapshots", checkedCommit(commit)),
    pointerPath: (commit, filename) =>
      join(storageDir, "snapshots", checkedCommit(commit), checkedFile(filename)),
    refPath: (revision) => {
      validateRelativePath("revision", revision);
      return join(storageDir, "refs", revision);
    },
    noExistPath: (commit, filename) =>
      join(storageDir, ".no_exist", checkedCommit(commit), checkedFile(filename)),
  };
}

/**
 * The commit a revision names in the cache: itself when it is a full commit hash, else the
 * content of `refs/<revision>`; undefined when the cache has no such ref.
 */
export async function readCachedRef(
  cache: HubRepoCache,
  revision: string,
): Promise<string | undefined> {
  if (isCommitHash(revision)) return revision;
  try {
    const commit = (await readFile(cache.refPath(revision), "utf8")).trim();
    return commit.length > 0 ? commit : undefined;
  } catch {
    return undefined;
  }
}

function temporarySibling(path: string): string {
  return `${path}.${randomBytes(4).toString("hex")}.tmp`;
}

/**
 * Records that a branch or tag points at a commit (`refs/<revision>`), atomically, and only
 * when it changed, as huggingface_hub's `_cache_commit_hash_for_specific_revision` does.
 */
export async function writeCachedRef(
  cache: HubRepoCache,
  revision: string,
  commit: string,
): Promise<void> {
  if (revision === commit) return;
  if ((await readCachedRef(cache, revision)) === commit) return;
  const path = cache.refPath(revision);
  await mkdir(dirname(path), { recursive: true });
  const temporary = temporarySibling(path);
  await writeFile(temporary, commit);
  await rename(temporary, path);
}

/**
 * Makes `snapshots/<commit>/<filename>` point at its blob with a relative symlink (as
 * huggingface_hub's `_create_symlink` does, so the cache survives being moved). The link is
 * made under a temporary name and renamed into place, so a reader never sees it missing.
 * Where symlinks are refused (some Windows setups), the blob is copied instead.
 */
export async function linkSnapshotFile(
  cache: HubRepoCache,
  commit: string,
  filename: string,
  etag: string,
): Promise<string> {
  const pointer = cache.pointerPath(commit, filename);
  const blob = cache.blobPath(etag);
  await mkdir(dirname(pointer), { recursive: true });
  const temporary = temporarySibling(pointer);
  try {
    await symlink(relative(dirname(pointer), blob), temporary);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== "EPERM" && code !== "EACCES" && code !== "ENOTSUP") throw error;
    await copyFile(blob, temporary);
  }
  try {
    await rename(temporary, pointer);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return pointer;
}

/** Whether the cache knows a file to be absent at a commit (`.no_exist/<commit>/<filename>`). */
export function isKnownMissing(cache: HubRepoCache, commit: string, filename: string): boolean {
  return existsSync(cache.noExistPath(commit, filename));
}

/** Records that a file is absent at a commit, as huggingface_hub does after an EntryNotFound. */
export async function markKnownMissing(
  cache: HubRepoCache,
  commit: string,
  filename: string,
): Promise<void> {
  const path = cache.noExistPath(commit, filename);
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, "");
  } catch {
    // Like huggingface_hub: failing to cache an absence must not fail the download.
  }
}
