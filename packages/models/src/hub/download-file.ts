import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { type Dispatcher, request } from "undici";
import {
  type HubRepoCache,
  hubRepoCache,
  linkSnapshotFile,
  markKnownMissing,
  readCachedRef,
  writeCachedRef,
} from "./hub-cache";
import {
  type HubSettings,
  type HubSettingsOptions,
  hubSettings,
  isCommitHash,
  resolveUrl,
  validateRelativePath,
  validateRepoId,
} from "./hub-endpoint";
import {
  EntryNotFoundError,
  GatedRepoError,
  HubConnectionError,
  HubError,
  HubFormatError,
  HubHttpError,
  HubIntegrityError,
  type HubLocation,
  HubOfflineError,
  RepoNotFoundError,
  RevisionNotFoundError,
} from "./hub-errors";
import { lockBlob } from "./hub-lock";

/** Progress of one file, reported while it downloads and once when it is done. */
export interface HubProgressEvent {
  /** The repository id. */
  repo: string;
  /** The file inside the repository. */
  filename: string;
  /** Bytes of the file on disk so far (a resumed download starts above zero). */
  loaded: number;
  /** The file's size when the hub announced it. */
  total: number | undefined;
  /** `downloading` while bytes arrive, `done` once the file is in the cache, `cached` when no download was needed. */
  status: "downloading" | "done" | "cached";
}

/** Options of {@link downloadHubFile}. */
export interface DownloadHubFileOptions extends HubSettingsOptions {
  /** Branch, tag or commit hash; default `main`. */
  revision?: string;
  /** Called as bytes arrive and when a file is done. */
  onProgress?: (event: HubProgressEvent) => void;
  /** Retries of a download interrupted by the network or a 429/5xx, each resuming where it stopped; default 3. */
  maxRetries?: number;
  /** Wait before the first retry in milliseconds, doubled after each; default 1,000. */
  retryDelayMs?: number;
  /** Aborts requests and retries. */
  signal?: AbortSignal;
  /** undici dispatcher for the requests (a proxy agent, a mock); default undici's global one. */
  dispatcher?: Dispatcher;
}

/** A file of a repository, present in the cache. */
export interface HubFile {
  /** The repository id. */
  repo: string;
  /** The revision asked for. */
  revision: string;
  /** The commit the revision resolved to. */
  commit: string;
  /** The file inside the repository. */
  filename: string;
  /** `snapshots/<commit>/<filename>` in the cache (a symlink to the blob). */
  path: string;
  /** Whether the file came from the cache without downloading its content. */
  fromCache: boolean;
}

/** What a HEAD request on the resolve URL tells, as huggingface_hub's `get_hf_file_metadata` reads it. */
interface FileMetadata {
  commit: string;
  etag: string;
  size: number | undefined;
  /** Where the content is: the resolve URL, or the CDN URL an LFS file redirects to. */
  location: string;
}

const MAX_REDIRECTS = 10;

function headerOf(headers: Record<string, string | string[] | undefined>, name: string) {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** huggingface_hub's `_normalize_etag`: drops a weak `W/` prefix and the quotes. */
export function normalizeEtag(etag: string | undefined): string | undefined {
  if (etag === undefined) return undefined;
  return etag.replace(/^W\//, "").replace(/^"|"$/g, "");
}

function integerOrUndefined(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function withoutQuery(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

/** Maps an error status to the hub's error classes, reading `X-Error-Code` as huggingface_hub does. */
function hubHttpError(
  location: HubLocation,
  url: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  settings: HubSettings,
): HubHttpError {
  const code = headerOf(headers, "x-error-code");
  const message = headerOf(headers, "x-error-message");
  const shownUrl = withoutQuery(url);
  if (code === "RevisionNotFound") return new RevisionNotFoundError(location, shownUrl, status);
  if (code === "EntryNotFound" || (code === undefined && status === 404)) {
    return new EntryNotFoundError(
      location,
      shownUrl,
      status,
      headerOf(headers, "x-repo-commit") ?? undefined,
    );
  }
  if (code === "GatedRepo")
    return new GatedRepoError(location, shownUrl, status, settings.endpoint);
  if (
    code === "RepoNotFound" ||
    (status === 401 && message !== "Invalid credentials in Authorization header")
  ) {
    return new RepoNotFoundError(location, shownUrl, status, settings.token !== undefined);
  }
  if (status === 401 || status === 403) {
    return new HubHttpError(
      location,
      shownUrl,
      status,
      `${message ?? "access denied"}. Set HF_TOKEN to a valid access token with read access; for a gated repository accept its licence on ${settings.endpoint}/${location.repo} first`,
      false,
    );
  }
  return new HubHttpError(
    location,
    shownUrl,
    status,
    message ?? "unexpected status",
    isRetryableStatus(status),
  );
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return true;
  const name = (error as { name?: string })?.name;
  const code = (error as { code?: string })?.code;
  return name === "AbortError" || code === "UND_ERR_ABORTED" || code === "ABORT_ERR";
}

function baseHeaders(settings: HubSettings): Record<string, string> {
  return {
    "user-agent": "medfm.js (undici)",
    "accept-encoding": "identity",
    ...(settings.token ? { authorization: `Bearer ${settings.token}` } : {}),
  };
}

/**
 * HEAD on the resolve URL. Like huggingface_hub, it follows only redirects that stay on the
 * same host (a renamed repository) and stops at one to another host (an LFS file's CDN URL),
 * whose headers carry the metadata (`X-Linked-Etag`, `X-Linked-Size`, `X-Repo-Commit`).
 */
async function fetchMetadata(
  location: HubLocation,
  url: string,
  settings: HubSettings,
  options: DownloadHubFileOptions,
): Promise<FileMetadata> {
  let current = url;
  for (let redirects = 0; ; redirects += 1) {
    const response = await request(current, {
      method: "HEAD",
      headers: baseHeaders(settings),
      signal: options.signal,
      dispatcher: options.dispatcher,
    });
    await response.body.dump();
    const headers = response.headers;
    const status = response.statusCode;
    const target = headerOf(headers, "location");
    if (status >= 300 && status < 400 && target !== undefined) {
      const next = new URL(target, current);
      if (next.origin === new URL(current).origin && redirects < MAX_REDIRECTS) {
        current = next.toString();
        continue;
      }
    } else if (status >= 400) {
      throw hubHttpError(location, current, status, headers, settings);
    }
    const commit = headerOf(headers, "x-repo-commit");
    if (commit === undefined) {
      throw new HubFormatError(
        location,
        `${current} answered without an X-Repo-Commit header, so it does not look like a Hugging Face hub; check HF_ENDPOINT and proxy settings`,
      );
    }
    const etag = normalizeEtag(headerOf(headers, "x-linked-etag") ?? headerOf(headers, "etag"));
    if (etag === undefined || etag.length === 0) {
      throw new HubFormatError(
        location,
        `${current} answered without an ETag, so the download cannot be checked or cached`,
      );
    }
    const isRedirect = status >= 300 && status < 400;
    const size = integerOrUndefined(
      headerOf(headers, "x-linked-size") ??
        (isRedirect ? undefined : headerOf(headers, "content-length")),
    );
    // Content not redirected is fetched at the resolved commit, so a branch moving between the
    // HEAD and the GET cannot hand over other bytes than the ones the ETag and commit describe.
    const pinned = resolveUrl(settings.endpoint, location.repo, commit, location.filename ?? "");
    return {
      commit,
      etag,
      size,
      location: isRedirect && target !== undefined ? new URL(target, current).toString() : pinned,
    };
  }
}

async function sizeOnDisk(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

/**
 * GETs the content into `<etag>.incomplete`, continuing a partial file with a Range request.
 * Redirects are followed; the Authorization header goes only to the hub's own origin, never to
 * a CDN host, as huggingface_hub does.
 */
async function fetchContent(
  location: HubLocation & { filename: string },
  url: string,
  incomplete: string,
  total: number | undefined,
  settings: HubSettings,
  options: DownloadHubFileOptions,
): Promise<void> {
  const hubOrigin = new URL(settings.endpoint).origin;
  const offset = await sizeOnDisk(incomplete);
  let current = url;
  for (let redirects = 0; ; redirects += 1) {
    const headers = baseHeaders(settings);
    if (new URL(current).origin !== hubOrigin) delete headers.authorization;
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const response = await request(current, {
      method: "GET",
      headers,
      signal: options.signal,
      dispatcher: options.dispatcher,
    });
    const status = response.statusCode;
    const target = headerOf(response.headers, "location");
    if (status >= 300 && status < 400 && target !== undefined) {
      await response.body.dump();
      if (redirects >= MAX_REDIRECTS) {
        throw new HubFormatError(location, `more than ${MAX_REDIRECTS} redirects from ${url}`);
      }
      current = new URL(target, current).toString();
      continue;
    }
    if (status === 416) {
      // The partial file is not a prefix the server recognises: start over.
      await response.body.dump();
      await rm(incomplete, { force: true });
      throw new HubHttpError(location, withoutQuery(current), status, "range refused", true);
    }
    if (status >= 400) {
      await response.body.dump();
      throw hubHttpError(location, current, status, response.headers, settings);
    }
    let start = 0;
    if (status === 206) {
      const range = /^bytes (\d+)-/.exec(headerOf(response.headers, "content-range") ?? "");
      if (range === null || Number(range[1]) !== offset) {
        await response.body.dump();
        await rm(incomplete, { force: true });
        throw new HubHttpError(
          location,
          withoutQuery(current),
          status,
          `asked for bytes from ${offset} but got Content-Range ${JSON.stringify(headerOf(response.headers, "content-range"))}`,
          true,
        );
      }
      start = offset;
    }
    // A 200 to a Range request means the server ignored it: the body is the whole file.
    let loaded = start;
    const progress = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        loaded += chunk.length;
        options.onProgress?.({
          repo: location.repo,
          filename: location.filename,
          loaded,
          total,
          status: "downloading",
        });
        callback(null, chunk);
      },
    });
    await pipeline(
      response.body,
      progress,
      createWriteStream(incomplete, { flags: start > 0 ? "a" : "w" }),
    );
    return;
  }
}

async function downloadBlob(
  location: HubLocation & { filename: string },
  cache: HubRepoCache,
  metadata: FileMetadata,
  settings: HubSettings,
  options: DownloadHubFileOptions,
): Promise<void> {
  const incomplete = cache.incompletePath(metadata.etag);
  await mkdir(dirname(incomplete), { recursive: true });
  const maxRetries = options.maxRetries ?? 3;
  let delay = options.retryDelayMs ?? 1000;
  for (let attempt = 0; ; attempt += 1) {
    const onDisk = await sizeOnDisk(incomplete);
    if (metadata.size !== undefined && onDisk > metadata.size) {
      await rm(incomplete, { force: true });
    }
    // A previous run may have stopped after the last byte but before the rename.
    if (metadata.size === undefined || onDisk !== metadata.size || onDisk === 0) {
      try {
        await fetchContent(
          location,
          metadata.location,
          incomplete,
          metadata.size,
          settings,
          options,
        );
      } catch (error) {
        if (isAbort(error, options.signal)) throw error;
        if (!isNetworkFailure(error)) throw error;
        if (attempt >= maxRetries) {
          if (HubError.isInstance(error)) throw error;
          throw new HubConnectionError(location, withoutQuery(metadata.location), error);
        }
        await sleep(delay, undefined, { signal: options.signal });
        delay *= 2;
        continue;
      }
    }
    const size = await sizeOnDisk(incomplete);
    if (metadata.size !== undefined && size !== metadata.size) {
      await rm(incomplete, { force: true });
      throw new HubIntegrityError(location, "size", String(metadata.size), String(size));
    }
    // LFS files are named by their sha256; check the content against it.
    if (/^[0-9a-f]{64}$/.test(metadata.etag)) {
      const actual = await sha256Of(incomplete);
      if (actual !== metadata.etag) {
        await rm(incomplete, { force: true });
        throw new HubIntegrityError(location, "sha256", metadata.etag, actual);
      }
    }
    await rename(incomplete, cache.blobPath(metadata.etag));
    return;
  }
}

/** System and undici error codes of a failed or cut connection (worth a retry or the cache). */
const TRANSPORT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
]);

function isTransportError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" && (code.startsWith("UND_ERR_") || TRANSPORT_CODES.has(code));
}

/** Whether a failure means the hub could not be used (so a retry or the cache may help). */
function isNetworkFailure(error: unknown): boolean {
  if (HubError.isInstance(error)) return error.isRetryable;
  return isTransportError(error);
}

/**
 * Downloads one file of a model repository into huggingface_hub's cache (or finds it there)
 * and returns its snapshot path. It behaves like huggingface_hub's `hf_hub_download`:
 * a commit-hash revision already in the cache needs no request; otherwise a HEAD request
 * resolves the revision to a commit and the file to an ETag, a blob already present is reused,
 * and a missing one is downloaded (resuming `blobs/<etag>.incomplete`, sha256-checked for LFS
 * files, renamed into place), then linked from `snapshots/<commit>/`. When the hub cannot be
 * reached, a cached copy of the revision is used; in offline mode only the cache is read.
 * @throws GatedRepoError, RepoNotFoundError, RevisionNotFoundError, EntryNotFoundError,
 *   HubConnectionError, HubOfflineError, HubIntegrityError, each naming repo, revision and file.
 */
export async function downloadHubFile(
  repo: string,
  filename: string,
  options: DownloadHubFileOptions = {},
): Promise<HubFile> {
  validateRepoId(repo);
  validateRelativePath("file name", filename);
  const revision = options.revision ?? "main";
  validateRelativePath("revision", revision);
  const settings = hubSettings(options);
  const cache = hubRepoCache(settings.cacheDir, repo);
  const location = { repo, revision, filename };

  const fromCache = async (commit: string | undefined): Promise<HubFile | undefined> => {
    if (commit === undefined) return undefined;
    const path = cache.pointerPath(commit, filename);
    if (!existsSync(path)) return undefined;
    const size = await sizeOnDisk(path);
    options.onProgress?.({ repo, filename, loaded: size, total: size, status: "cached" });
    return { repo, revision, commit, filename, path, fromCache: true };
  };

  if (isCommitHash(revision)) {
    const cached = await fromCache(revision);
    if (cached) return cached;
  }
  if (settings.offline) {
    const commit = await readCachedRef(cache, revision);
    if (commit === undefined) {
      throw new HubOfflineError(location, settings.cacheDir, `revision ${revision} is not`);
    }
    const cached = await fromCache(commit);
    if (cached) return cached;
    throw new HubOfflineError(
      location,
      settings.cacheDir,
      `the file is not (looked for ${cache.pointerPath(commit, filename)})`,
    );
  }

  const url = resolveUrl(settings.endpoint, repo, revision, filename);
  let metadata: FileMetadata;
  try {
    metadata = await fetchMetadata(location, url, settings, options);
  } catch (error) {
    if (isAbort(error, options.signal)) throw error;
    if (error instanceof EntryNotFoundError && error.commit !== undefined) {
      await markKnownMissing(cache, error.commit, filename);
      await writeCachedRef(cache, revision, error.commit);
    }
    if (!isNetworkFailure(error)) throw error;
    // The hub is unreachable or failing: a cached copy of this revision will do.
    const cached = await fromCache(await readCachedRef(cache, revision));
    if (cached) return cached;
    if (HubError.isInstance(error)) throw error;
    throw new HubConnectionError(location, url, error);
  }

  await writeCachedRef(cache, revision, metadata.commit);
  const pointer = cache.pointerPath(metadata.commit, filename);
  const blob = cache.blobPath(metadata.etag);
  let blobExisted = existsSync(blob);
  if (!blobExisted) {
    const lock = await lockBlob(settings.cacheDir, repo, metadata.etag, {
      signal: options.signal,
    });
    try {
      // Another process may have finished the blob while this one waited for the lock.
      blobExisted = existsSync(blob);
      if (!blobExisted) await downloadBlob(location, cache, metadata, settings, options);
    } finally {
      await lock.release();
    }
  }
  await linkSnapshotFile(cache, metadata.commit, filename, metadata.etag);
  const size = await sizeOnDisk(blob);
  options.onProgress?.({
    repo,
    filename,
    loaded: size,
    total: size,
    status: blobExisted ? "cached" : "done",
  });
  return {
    repo,
    revision,
    commit: metadata.commit,
    filename,
    path: pointer,
    fromCache: blobExisted,
  };
}
