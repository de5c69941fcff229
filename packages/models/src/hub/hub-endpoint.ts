import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The hub huggingface_hub talks to when `HF_ENDPOINT` is unset. */
export const DEFAULT_HUB_ENDPOINT = "https://huggingface.co";

/** Options that override the environment when settling {@link HubSettings}. */
export interface HubSettingsOptions {
  /** Hub origin (and base path); default `HF_ENDPOINT`, else `https://huggingface.co`. */
  endpoint?: string;
  /**
   * Access token sent as `Authorization: Bearer`; default `HF_TOKEN` (or the legacy
   * `HUGGING_FACE_HUB_TOKEN`), else the token file huggingface_hub's `hf auth login` writes
   * (`HF_TOKEN_PATH`, default `$HF_HOME/token`). Pass `false` to send none.
   */
  token?: string | false;
  /** Cache folder; default `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`. */
  cacheDir?: string;
  /** Use the cache only, never the network; default `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`). */
  offline?: boolean;
}

/** Where and how to reach the hub, settled from options and the environment. */
export interface HubSettings {
  /** Hub origin without a trailing slash. */
  endpoint: string;
  /** Access token, when one is configured. */
  token: string | undefined;
  /** The cache folder (huggingface_hub's layout). */
  cacheDir: string;
  /** Whether the network must not be used. */
  offline: boolean;
}

type Environment = Readonly<Record<string, string | undefined>>;

/** huggingface_hub's `_is_true`: 1, ON, YES, TRUE in any case. */
function isTrue(value: string | undefined): boolean {
  return value !== undefined && ["1", "ON", "YES", "TRUE"].includes(value.toUpperCase());
}

/** `os.path.expanduser` and `os.path.expandvars`, as huggingface_hub applies them to paths. */
function expandPath(path: string, env: Environment): string {
  const home = env.HOME ?? homedir();
  const expanded = path === "~" || path.startsWith("~/") ? `${home}${path.slice(1)}` : path;
  return expanded.replace(
    /\$(\w+)|\$\{(\w+)\}/g,
    (whole, plain: string | undefined, braced: string | undefined) =>
      env[plain ?? braced ?? ""] ?? whole,
  );
}

function cleanToken(token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  const cleaned = token.replace(/[\r\n]/g, "").trim();
  return cleaned.length > 0 ? cleaned : undefined;
}

/** `HF_HOME`, as huggingface_hub's `constants.HF_HOME` computes it. */
export function hubHome(env: Environment = process.env): string {
  const cacheHome = env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), ".cache");
  return expandPath(env.HF_HOME ?? join(cacheHome, "huggingface"), env);
}

/**
 * Settles endpoint, token, cache folder and offline mode the way huggingface_hub does, so a
 * shell configured for Python (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HOME`, `HF_HUB_CACHE`,
 * `HF_HUB_OFFLINE`) configures MedFM.js too. Options win over the environment.
 */
export function hubSettings(
  options: HubSettingsOptions = {},
  env: Environment = process.env,
): HubSettings {
  const home = hubHome(env);
  const endpoint = (options.endpoint ?? env.HF_ENDPOINT ?? DEFAULT_HUB_ENDPOINT).replace(
    /\/+$/,
    "",
  );
  const cacheDir =
    options.cacheDir ??
    expandPath(env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? join(home, "hub"), env);
  let token: string | undefined;
  if (options.token !== false) {
    token = cleanToken(options.token ?? env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN);
    if (token === undefined && options.token === undefined) {
      const tokenPath = expandPath(env.HF_TOKEN_PATH ?? join(home, "token"), env);
      try {
        token = cleanToken(readFileSync(tokenPath, "utf8"));
      } catch {
        token = undefined;
      }
    }
  }
  const offline =
    options.offline ?? (isTrue(env.HF_HUB_OFFLINE) || isTrue(env.TRANSFORMERS_OFFLINE));
  return { endpoint, token, cacheDir, offline };
}

/** A full 40-character git commit hash, as huggingface_hub's `REGEX_COMMIT_HASH` matches it. */
export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}

/**
 * Checks a repository id as huggingface_hub's `validate_repo_id` does (`name` or `org/name`,
 * word characters, `-` and `.`, no `--` or `..`), so a bad id fails before any request and
 * can never escape the cache folder.
 * @throws Error naming the id.
 */
export function validateRepoId(repo: string): void {
  const part = "[\\w.-]{1,96}";
  const valid =
    new RegExp(`^(${part}/)?${part}$`).test(repo) &&
    !repo.includes("--") &&
    !repo.includes("..") &&
    repo.split("/").every((name) => !/^[-.]|[-.]$/.test(name));
  if (!valid) {
    throw new Error(
      `invalid repository id ${JSON.stringify(repo)}: expected "name" or "org/name" of letters, digits, '-', '_' and '.', not starting or ending with '-' or '.', without '--' or '..'`,
    );
  }
}

/**
 * Checks a file name or revision that becomes a path in the cache: relative, with no empty,
 * `.` or `..` segment, so nothing the hub (or an index file) names can write outside the cache.
 * @throws Error naming the value.
 */
export function validateRelativePath(kind: "file name" | "revision", value: string): void {
  const segments = value.split("/");
  if (
    value.length === 0 ||
    value.includes("\\") ||
    value.includes("\0") ||
    segments.some((segment) => segment === "" || segment === "." || segment === "..")
  ) {
    throw new Error(
      `invalid ${kind} ${JSON.stringify(value)}: expected a relative path without empty, '.' or '..' parts`,
    );
  }
}

/**
 * The URL huggingface_hub's `hf_hub_url` builds: `{endpoint}/{repo}/resolve/{revision}/{filename}`,
 * the revision quoted whole (so `refs/pr/1` stays one segment) and the file name per segment.
 */
export function resolveUrl(
  endpoint: string,
  repo: string,
  revision: string,
  filename: string,
): string {
  const quotedFile = filename.split("/").map(encodeURIComponent).join("/");
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${quotedFile}`;
}
