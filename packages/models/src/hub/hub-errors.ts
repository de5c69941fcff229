const MARKER = Symbol.for("medfm.models.HubError");

/** Where on the hub a failure happened: the repository, the revision asked for and the file. */
export interface HubLocation {
  /** Repository id, like `timm/vit_small_patch16_224.augreg_in21k`. */
  repo: string;
  /** Revision asked for (branch, tag or commit hash). */
  revision: string;
  /** File inside the repository, when the failure concerns one. */
  filename?: string;
}

function describe(location: HubLocation): string {
  const file = location.filename === undefined ? "" : ` file ${location.filename}`;
  return `${location.repo}@${location.revision}${file}`;
}

/** Base class of every error of the Hugging Face hub client (downloads, cache, hub configs). */
export class HubError extends Error {
  /** Marks instances across copies of this package, where `instanceof` fails. */
  readonly [MARKER] = true;
  /** The repository id. */
  readonly repo: string;
  /** The revision asked for. */
  readonly revision: string;
  /** The file at fault, when one is. */
  readonly filename: string | undefined;
  /** Whether repeating the operation may succeed (network failures, 429, 5xx). */
  readonly isRetryable: boolean;

  constructor(
    location: HubLocation,
    message: string,
    options: { cause?: unknown; isRetryable?: boolean } = {},
  ) {
    super(`${describe(location)}: ${message}`, { cause: options.cause });
    this.name = "HubError";
    this.repo = location.repo;
    this.revision = location.revision;
    this.filename = location.filename;
    this.isRetryable = options.isRetryable ?? false;
  }

  /** Tells whether `error` is a HubError, from any copy of this package. */
  static isInstance(error: unknown): error is HubError {
    return typeof error === "object" && error !== null && MARKER in error;
  }
}

/** The hub answered with an error status that none of the more specific classes covers. */
export class HubHttpError extends HubError {
  /** The HTTP status. */
  readonly status: number;
  /** The URL asked (without query string). */
  readonly url: string;

  constructor(
    location: HubLocation,
    url: string,
    status: number,
    message: string,
    isRetryable: boolean,
  ) {
    super(location, `${url} answered ${status}: ${message}`, { isRetryable });
    this.name = "HubHttpError";
    this.status = status;
    this.url = url;
  }
}

/** The repository is gated (`X-Error-Code: GatedRepo`): its licence must be accepted first. */
export class GatedRepoError extends HubHttpError {
  constructor(location: HubLocation, url: string, status: number, endpoint: string) {
    super(
      location,
      url,
      status,
      `the repository is gated. Accept its licence on ${endpoint}/${location.repo} while logged in, then set HF_TOKEN to an access token of that account (https://huggingface.co/settings/tokens)`,
      false,
    );
    this.name = "GatedRepoError";
  }
}

/**
 * The repository does not exist, or is private and the token (if any) cannot see it
 * (`X-Error-Code: RepoNotFound`, or a 401 without a code, as huggingface_hub reads it).
 */
export class RepoNotFoundError extends HubHttpError {
  constructor(location: HubLocation, url: string, status: number, hasToken: boolean) {
    super(
      location,
      url,
      status,
      `repository not found. Check the repository id; if it is private or gated, ${hasToken ? "the token in HF_TOKEN has no access to it" : "set HF_TOKEN to an access token that can read it"}`,
      false,
    );
    this.name = "RepoNotFoundError";
  }
}

/** The revision (branch, tag or commit) does not exist (`X-Error-Code: RevisionNotFound`). */
export class RevisionNotFoundError extends HubHttpError {
  constructor(location: HubLocation, url: string, status: number) {
    super(
      location,
      url,
      status,
      "revision not found. Check the branch, tag or commit hash after @ (default: main)",
      false,
    );
    this.name = "RevisionNotFoundError";
  }
}

/** The file does not exist at that revision (404, `X-Error-Code: EntryNotFound`). */
export class EntryNotFoundError extends HubHttpError {
  /** The commit the hub resolved the revision to, when it said (`X-Repo-Commit`). */
  readonly commit: string | undefined;

  constructor(location: HubLocation, url: string, status: number, commit: string | undefined) {
    super(
      location,
      url,
      status,
      "file not found in the repository at this revision. Check the file name (the repository's 'Files' tab lists them)",
      false,
    );
    this.name = "EntryNotFoundError";
    this.commit = commit;
  }
}

/** The hub could not be reached (connection refused, DNS, TLS, reset) and the cache has no copy. */
export class HubConnectionError extends HubError {
  constructor(location: HubLocation, url: string, cause: unknown) {
    const code = (cause as { code?: string })?.code;
    const message = (cause as { message?: string })?.message ?? String(cause);
    super(
      location,
      `could not reach ${url} (${code ? `${code}: ` : ""}${message}) and the file is not in the cache. Check the connection, HF_ENDPOINT and proxy settings, or pull it where the hub is reachable`,
      { cause, isRetryable: true },
    );
    this.name = "HubConnectionError";
  }
}

/** Offline mode (HF_HUB_OFFLINE or `offline: true`) and the cache lacks the revision or file. */
export class HubOfflineError extends HubError {
  /** The cache folder that was searched. */
  readonly cacheDir: string;

  constructor(location: HubLocation, cacheDir: string, detail: string) {
    super(
      location,
      `offline mode is on and ${detail} in the cache ${cacheDir}. Pull it once online (medfm models pull ${location.repo}${location.revision === "main" ? "" : `@${location.revision}`}) or unset HF_HUB_OFFLINE`,
    );
    this.name = "HubOfflineError";
    this.cacheDir = cacheDir;
  }
}

/** A downloaded file does not match what the hub announced (sha256 of an LFS file, or size). */
export class HubIntegrityError extends HubError {
  /** What the hub announced (sha256 hex or byte count). */
  readonly expected: string;
  /** What was received. */
  readonly actual: string;

  constructor(location: HubLocation, what: "sha256" | "size", expected: string, actual: string) {
    super(
      location,
      `downloaded ${what} ${actual} does not match the hub's ${what === "sha256" ? "ETag" : "size"} ${expected}; the partial file was deleted, so pulling again downloads it afresh`,
      { isRetryable: true },
    );
    this.name = "HubIntegrityError";
    this.expected = expected;
    this.actual = actual;
  }
}

/** A hub response or a file of the snapshot (index, config) is malformed or unusable. */
export class HubFormatError extends HubError {
  constructor(location: HubLocation, message: string) {
    super(location, message);
    this.name = "HubFormatError";
  }
}

/**
 * No registered backbone reads the repository's `config.json` (neither its timm `architecture`
 * nor its transformers `model_type`); the message lists what the registered backbones accept.
 */
export class UnsupportedArchitectureError extends HubError {
  /** timm's `architecture` of the config, when it has one. */
  readonly architecture: string | undefined;
  /** transformers' `model_type` of the config, when it has one. */
  readonly modelType: string | undefined;
  /** What the registered backbones accept, one entry per spec and checkpoint family. */
  readonly supported: readonly string[];

  constructor(
    location: HubLocation,
    found: { architecture?: string; modelType?: string },
    supported: readonly string[],
  ) {
    const described = [
      found.architecture === undefined
        ? undefined
        : `timm architecture ${JSON.stringify(found.architecture)}`,
      found.modelType === undefined
        ? undefined
        : `transformers model_type ${JSON.stringify(found.modelType)}`,
    ].filter((part) => part !== undefined);
    super(
      location,
      `${described.length > 0 ? described.join(" and ") : "neither an architecture (timm) nor a model_type (transformers)"} is not supported by any registered backbone; supported: ${supported.length > 0 ? supported.join("; ") : "(no registered backbone reads hub configs)"}`,
    );
    this.name = "UnsupportedArchitectureError";
    this.architecture = found.architecture;
    this.modelType = found.modelType;
    this.supported = supported;
  }
}
