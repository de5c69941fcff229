import type { HubProgressEvent } from "@medfm/models";
import { SingleBar } from "cli-progress";

/** Options of {@link createDownloadProgress}. */
export interface DownloadProgressOptions {
  /** Where output goes; default `process.stderr`. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Force the live bar on or off; default: on when `stream` is a TTY and `CI` is unset. */
  interactive?: boolean;
}

/** Shows hub downloads: a byte bar per file on a terminal, one line per file otherwise. */
export interface DownloadProgress {
  /** Pass as `onProgress` of `pullSnapshot` / `downloadHubFile`. */
  onProgress(event: HubProgressEvent): void;
  /** Stops a bar left running (after a failure). */
  stop(): void;
}

/** Bytes as `12.3 MB` (decimal units, as the hub's file listing shows them). */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * Creates the progress display of `medfm models pull`: on a terminal a cli-progress bar per
 * file with bytes and ETA; in logs and pipes a line per finished file (`downloaded` or `cached`).
 */
export function createDownloadProgress(options: DownloadProgressOptions = {}): DownloadProgress {
  const stream = options.stream ?? process.stderr;
  const interactive = options.interactive ?? (Boolean(stream.isTTY) && !process.env.CI);
  let bar: SingleBar | undefined;
  let current: string | undefined;
  const stop = () => {
    bar?.stop();
    bar = undefined;
    current = undefined;
  };
  return {
    onProgress(event) {
      if (event.status === "downloading") {
        if (!interactive) return;
        if (current !== event.filename) {
          stop();
          current = event.filename;
          bar = new SingleBar({
            stream: stream as NodeJS.WriteStream,
            format: `${event.filename} [{bar}] {percentage}% | {done} / {size} | ETA {eta_formatted}`,
            hideCursor: true,
            clearOnComplete: true,
          });
          bar.start(event.total ?? 0, event.loaded, {
            done: formatBytes(event.loaded),
            size: event.total === undefined ? "?" : formatBytes(event.total),
          });
        }
        bar?.update(event.loaded, { done: formatBytes(event.loaded) });
        return;
      }
      stop();
      const verb = event.status === "cached" ? "cached" : "downloaded";
      stream.write(`${event.filename}: ${verb} ${formatBytes(event.loaded)}\n`);
    },
    stop,
  };
}
