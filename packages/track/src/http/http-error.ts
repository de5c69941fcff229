import { TrackError } from "../track-error";

/** A request failed: the server answered with an error status, or the network failed. */
export class HttpError extends TrackError {
  /** The HTTP method. */
  readonly method: string;
  /** The URL without credentials or query string. */
  readonly url: string;
  /** The status the server answered with; undefined when it did not answer. */
  readonly status: number | undefined;
  /** The server's error message or body (first 2,000 characters), when it answered. */
  readonly serverMessage: string | undefined;
  /** Attempts made, retries included. */
  readonly attempts: number;

  constructor(options: {
    message: string;
    method: string;
    url: string;
    status?: number;
    serverMessage?: string;
    attempts: number;
    isRetryable: boolean;
    cause?: unknown;
  }) {
    super(options.message, { cause: options.cause, isRetryable: options.isRetryable });
    this.name = "HttpError";
    this.method = options.method;
    this.url = options.url;
    this.status = options.status;
    this.serverMessage = options.serverMessage;
    this.attempts = options.attempts;
  }
}

/** The request was aborted by its signal; never retried. */
export class AbortedError extends TrackError {
  constructor(method: string, url: string, cause?: unknown) {
    super(`${method} ${url} was aborted`, { cause, isRetryable: false });
    this.name = "AbortedError";
  }
}

/** Whether a status is worth retrying: 408, 409, 429 and every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}
