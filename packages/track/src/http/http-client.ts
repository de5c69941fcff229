import { setTimeout as sleep } from "node:timers/promises";
import { Pool } from "undici";
import { AbortedError, HttpError, isRetryableStatus } from "./http-error";
import { retryDelay } from "./retry-delay";

/** Options of {@link createHttpClient}. */
export interface HttpClientOptions {
  /** The server origin and base path, like `http://127.0.0.1:5000`; credentials in it are refused. */
  baseUrl: string;
  /** Headers sent with every request (authorization goes here, never into URLs or logs). */
  headers?: Record<string, string>;
  /** Connections kept alive to the server; default 4. */
  connections?: number;
  /** TCP/TLS connect timeout in milliseconds; default 10,000. */
  connectTimeoutMs?: number;
  /** Timeout for the response headers and for each body chunk, in milliseconds; default 30,000. */
  requestTimeoutMs?: number;
  /** Retries after the first attempt; default 5. */
  maxRetries?: number;
  /** First retry delay in milliseconds; default 500. */
  baseDelayMs?: number;
  /** Largest retry delay in milliseconds; default 30,000. */
  maxDelayMs?: number;
  /** Randomness for jitter (tests pass a fixed one). */
  random?: () => number;
  /** Waits between retries (tests pass a fake). */
  sleep?: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
}

/** One request. */
export interface HttpRequest {
  /** The method. */
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** The path below the base URL, starting with `/`. */
  path: string;
  /** Query parameters. */
  query?: Record<string, string | number | undefined>;
  /** A JSON body. */
  json?: unknown;
  /** A raw body (for uploads). */
  body?: Buffer | Uint8Array | string;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** Aborts the request and its retries. */
  signal?: AbortSignal;
  /** Whether to retry; default true. Turn off for requests that are not idempotent. */
  retry?: boolean;
}

/** A response. */
export interface HttpResponse {
  /** The status. */
  status: number;
  /** The body as text. */
  text: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  json: unknown;
}

/** A keep-alive HTTP client with timeouts and retries, built on an undici Pool. */
export interface HttpClient {
  /** Sends a request, retrying network errors, 408/409/429 and 5xx; other 4xx throw at once. */
  request(request: HttpRequest): Promise<HttpResponse>;
  /** Closes the pool's connections. */
  close(): Promise<void>;
}

/** Error codes of undici and Node that mean the network failed before a response. */
function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return true;
  const name = (error as { name?: string })?.name;
  const code = (error as { code?: string })?.code;
  return name === "AbortError" || code === "UND_ERR_ABORTED" || code === "ABORT_ERR";
}

function describeNetworkError(error: unknown): string {
  const code = (error as { code?: string })?.code;
  const message = (error as { message?: string })?.message ?? String(error);
  return code ? `${code}: ${message}` : message;
}

function serverMessageOf(text: string, json: unknown): string {
  const record = json as
    | { message?: unknown; msg?: unknown; error?: unknown; error_code?: unknown }
    | undefined;
  if (record && typeof record === "object") {
    const message = record.message ?? record.msg ?? record.error;
    if (typeof message === "string") {
      return typeof record.error_code === "string" ? `${record.error_code}: ${message}` : message;
    }
  }
  return text.slice(0, 2000);
}

/** Creates an {@link HttpClient}. */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  const base = new URL(options.baseUrl);
  if (base.username || base.password) {
    throw new HttpError({
      message: "credentials in the server URL are not accepted; pass them through the environment",
      method: "-",
      url: `${base.protocol}//${base.host}${base.pathname}`,
      attempts: 0,
      isRetryable: false,
    });
  }
  const basePath = base.pathname.replace(/\/$/, "");
  const pool = new Pool(base.origin, {
    connections: options.connections ?? 4,
    pipelining: 1,
    connect: { timeout: options.connectTimeoutMs ?? 10_000 },
    headersTimeout: options.requestTimeoutMs ?? 30_000,
    bodyTimeout: options.requestTimeoutMs ?? 30_000,
    keepAliveTimeout: 30_000,
  });
  const maxRetries = options.maxRetries ?? 5;
  const delays = {
    baseDelayMs: options.baseDelayMs ?? 500,
    maxDelayMs: options.maxDelayMs ?? 30_000,
    random: options.random,
  };
  const wait =
    options.sleep ??
    ((milliseconds: number, signal?: AbortSignal) => sleep(milliseconds, undefined, { signal }));

  async function request(request: HttpRequest): Promise<HttpResponse> {
    const url = `${base.origin}${basePath}${request.path}`;
    let path = `${basePath}${request.path}`;
    if (request.query) {
      const search = new URLSearchParams();
      for (const [key, value] of Object.entries(request.query)) {
        if (value !== undefined) search.set(key, String(value));
      }
      const text = search.toString();
      if (text) path += `?${text}`;
    }
    const headers: Record<string, string> = { ...options.headers, ...request.headers };
    let body: Buffer | Uint8Array | string | undefined = request.body;
    if (request.json !== undefined) {
      body = JSON.stringify(request.json);
      headers["content-type"] = "application/json";
    }
    const attemptsAllowed = request.retry === false ? 1 : maxRetries + 1;
    for (let attempt = 1; ; attempt += 1) {
      if (request.signal?.aborted)
        throw new AbortedError(request.method, url, request.signal.reason);
      let status: number;
      let text: string;
      let retryAfter: string | undefined;
      try {
        const response = await pool.request({
          method: request.method,
          path,
          headers,
          body,
          signal: request.signal,
        });
        status = response.statusCode;
        const header = response.headers["retry-after"];
        retryAfter = Array.isArray(header) ? header[0] : header;
        text = await response.body.text();
      } catch (error) {
        if (isAbort(error, request.signal)) throw new AbortedError(request.method, url, error);
        if (attempt >= attemptsAllowed) {
          throw new HttpError({
            message: `${request.method} ${url} failed after ${attempt} attempt(s): ${describeNetworkError(error)}`,
            method: request.method,
            url,
            attempts: attempt,
            isRetryable: true,
            cause: error,
          });
        }
        await pauseBeforeRetry(attempt, undefined, request);
        continue;
      }
      let json: unknown;
      if (text.length > 0) {
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
      }
      if (status < 400) return { status, text, json };
      const retryable = isRetryableStatus(status);
      if (!retryable || attempt >= attemptsAllowed) {
        const serverMessage = serverMessageOf(text, json);
        throw new HttpError({
          message: `${request.method} ${url} answered ${status}${attempt > 1 ? ` after ${attempt} attempts` : ""}: ${serverMessage}`,
          method: request.method,
          url,
          status,
          serverMessage,
          attempts: attempt,
          isRetryable: retryable,
        });
      }
      await pauseBeforeRetry(attempt, retryAfter, request);
    }
  }

  async function pauseBeforeRetry(
    attempt: number,
    retryAfter: string | undefined,
    request: HttpRequest,
  ): Promise<void> {
    try {
      await wait(retryDelay(attempt, retryAfter, delays), request.signal);
    } catch (error) {
      throw new AbortedError(request.method, `${base.origin}${basePath}${request.path}`, error);
    }
  }

  return {
    request,
    close: () => pool.close(),
  };
}
