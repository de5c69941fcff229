import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "bullmq";
import { RedisUrlError } from "./grid-error";

/** The default Redis of a grid when neither `--redis` nor `MEDFM_REDIS_URL` is given. */
export const defaultRedisUrl = "redis://127.0.0.1:6379";

/**
 * A Redis URL with its password (and user name) replaced by `***`, for messages and logs. Text
 * that is not a URL is replaced whole, since it may be a password pasted in the wrong place.
 */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    if (parsed.username) parsed.username = "***";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return "(a Redis URL that does not parse)";
  }
}

/** Removes every occurrence of a URL's password from `text` (error messages of ioredis). */
export function redactSecrets(text: string, url: string): string {
  let result = text.split(url).join(redactRedisUrl(url));
  try {
    const password = decodeURIComponent(new URL(url).password);
    if (password.length > 0) result = result.split(password).join("***");
  } catch {
    // Not a URL: redactRedisUrl already stood in for it.
  }
  return result;
}

/** Options of {@link redisConnectionOptions}. */
export interface RedisConnectionSource {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS; wins over the env. */
  url?: string;
  /** Environment: `MEDFM_REDIS_URL`, `MEDFM_REDIS_PASSWORD` (when the URL has none), `MEDFM_REDIS_TLS_CA` (a CA file). */
  env?: Record<string, string | undefined>;
}

/** The URL a grid command connects to: the option, else `MEDFM_REDIS_URL`, else the default. */
export function resolveRedisUrl(source: RedisConnectionSource = {}): string {
  const env = source.env ?? process.env;
  return source.url ?? env.MEDFM_REDIS_URL ?? defaultRedisUrl;
}

/**
 * BullMQ (ioredis) connection options from a Redis URL: host, port, database, user and password
 * (from the URL or `MEDFM_REDIS_PASSWORD`), and TLS for `rediss://` (with `MEDFM_REDIS_TLS_CA`
 * as the trusted CA when set, e.g. a self-signed server). Errors show the URL redacted.
 */
export function redisConnectionOptions(source: RedisConnectionSource = {}): ConnectionOptions {
  const env = source.env ?? process.env;
  const url = resolveRedisUrl(source);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisUrlError(
      `${redactRedisUrl(url)}: expected redis://[user:password@]host:port[/db] or rediss://...`,
    );
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")
    throw new RedisUrlError(
      `${redactRedisUrl(url)}: expected the scheme redis:// or rediss:// (TLS), got ${parsed.protocol}//`,
    );
  const port = parsed.port === "" ? 6379 : Number(parsed.port);
  const dbText = parsed.pathname.replace(/^\//, "");
  const db = dbText === "" ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0)
    throw new RedisUrlError(
      `${redactRedisUrl(url)}: the database ${JSON.stringify(dbText)} is not a number`,
    );
  const password = parsed.password
    ? decodeURIComponent(parsed.password)
    : env.MEDFM_REDIS_PASSWORD || undefined;
  const tls =
    parsed.protocol === "rediss:"
      ? {
          servername: parsed.hostname,
          ...(env.MEDFM_REDIS_TLS_CA ? { ca: readFileSync(env.MEDFM_REDIS_TLS_CA) } : {}),
        }
      : undefined;
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ""),
    port,
    db,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(password ? { password } : {}),
    ...(tls ? { tls } : {}),
    // Workers block on Redis; BullMQ requires ioredis not to give up on a request.
    maxRetriesPerRequest: null,
  };
}
