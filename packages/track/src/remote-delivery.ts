import type { TrackingBackend } from "./backends/tracking-backend";
import type { RunDelivery } from "./run";
import { syncRun } from "./sync-run";

/** Options of {@link createRemoteDelivery}. */
export interface RemoteDeliveryOptions {
  /** Receives warnings (delivery failures, undelivered operations at stop). */
  warn: (message: string) => void;
  /** First pause after a failed delivery, in milliseconds; doubles up to 30 s. Default 1,000. */
  retryDelayMs?: number;
}

/**
 * Delivers a run's journal to a backend in the background: each notification starts a
 * {@link syncRun} unless one is running (then one more follows it). Failures are retried with
 * backoff and reported once per streak; nothing is lost, since the journal stays the source.
 */
export function createRemoteDelivery(
  folder: string,
  backend: TrackingBackend,
  options: RemoteDeliveryOptions,
): RunDelivery {
  const baseDelay = options.retryDelayMs ?? 1000;
  let running: Promise<void> | undefined;
  let again = false;
  let failures = 0;
  let lastError: unknown;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const pass = async (): Promise<void> => {
    do {
      again = false;
      await syncRun(folder, backend, { warn: options.warn });
    } while (again);
  };

  const start = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = pass()
      .then(() => {
        failures = 0;
        lastError = undefined;
      })
      .catch((error: unknown) => {
        failures += 1;
        lastError = error;
        if (failures === 1) {
          options.warn(
            `@medfm/track: delivery to ${backend.name} ${backend.uri} failed (${(error as Error).message}); the run goes on in the journal and delivery retries`,
          );
        }
        if (!closed && retryTimer === undefined) {
          retryTimer = setTimeout(
            () => {
              retryTimer = undefined;
              void start();
            },
            Math.min(30_000, baseDelay * 2 ** (failures - 1)),
          );
          retryTimer.unref();
        }
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  const drain = async (timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (running) await running;
      if (retryTimer) {
        clearTimeout(retryTimer);
        retryTimer = undefined;
      }
      await start();
      if (lastError === undefined) return;
      const pause = Math.min(30_000, baseDelay * 2 ** (failures - 1), deadline - Date.now());
      if (pause <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
    const reason = lastError instanceof Error ? lastError.message : String(lastError);
    options.warn(
      `@medfm/track: not everything reached ${backend.name} ${backend.uri} (${reason}); it is safe in ${folder}: run \`medfm track sync --path ${folder}\``,
    );
  };

  return {
    notify() {
      if (!closed) void start();
    },
    drain,
    async close(_status, timeoutMs) {
      try {
        await drain(timeoutMs);
      } finally {
        closed = true;
        if (retryTimer) clearTimeout(retryTimer);
        await backend.close();
      }
    },
  };
}
