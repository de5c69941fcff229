/** Options of {@link retryDelay}. */
export interface RetryDelayOptions {
  /** Delay before the first retry, in milliseconds. */
  baseDelayMs: number;
  /** Largest delay, in milliseconds (a longer Retry-After is cut to it). */
  maxDelayMs: number;
  /** Source of randomness in [0, 1) for jitter; Math.random by default. */
  random?: () => number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry): exponential backoff with full
 * jitter on its upper half, or the server's Retry-After when it sent one.
 */
export function retryDelay(
  attempt: number,
  retryAfter: string | undefined,
  options: RetryDelayOptions,
  now = Date.now(),
): number {
  const fromHeader = parseRetryAfter(retryAfter, now);
  if (fromHeader !== undefined) return Math.min(fromHeader, options.maxDelayMs);
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  const random = options.random ?? Math.random;
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Parses a Retry-After header (seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
