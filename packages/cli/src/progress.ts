import { SingleBar } from "cli-progress";

/** Reports training progress: a live bar on a terminal, plain lines otherwise. */
export interface ProgressReporter {
  /** Starts an epoch of `total` batches. */
  startEpoch(epoch: number, epochs: number, total: number): void;
  /** One batch done, with its loss. */
  batch(done: number, loss: number): void;
  /** Ends the epoch's bar (before the epoch's summary line is printed). */
  endEpoch(): void;
  /** Prints a line without breaking the bar. */
  log(line: string): void;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Where output goes; default `process.stderr`. */
  stream?: NodeJS.WriteStream;
  /** Force the live bar on or off; default: on when `stream` is a TTY and `CI` is unset. */
  interactive?: boolean;
  /** Plain mode: print a line every this many batches (and at the end); default 10. */
  every?: number;
}

/**
 * Creates a progress reporter. On a terminal it draws a bar with batches, ETA and loss; when
 * output is a file or a pipe (CI logs), it prints a plain line every few batches instead.
 */
export function createProgress(options: ProgressOptions = {}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const interactive = options.interactive ?? (Boolean(stream.isTTY) && !process.env.CI);
  const every = options.every ?? 10;
  let bar: SingleBar | undefined;
  let label = "";
  let total = 0;
  let started = 0;
  return {
    startEpoch(epoch, epochs, batches) {
      label = `epoch ${epoch + 1}/${epochs}`;
      total = batches;
      started = performance.now();
      if (interactive) {
        bar = new SingleBar({
          stream,
          format: `${label} [{bar}] {value}/{total} batches | ETA {eta_formatted} | loss {loss}`,
          hideCursor: true,
          clearOnComplete: true,
        });
        bar.start(batches, 0, { loss: "-" });
      }
    },
    batch(done, loss) {
      if (bar) {
        bar.update(done, { loss: loss.toFixed(4) });
      } else if (done % every === 0 || done === total) {
        const elapsed = (performance.now() - started) / 1000;
        const eta = done > 0 ? (elapsed / done) * (total - done) : 0;
        stream.write(
          `${label} batch ${done}/${total} loss ${loss.toFixed(4)} eta ${eta.toFixed(0)}s\n`,
        );
      }
    },
    endEpoch() {
      bar?.stop();
      bar = undefined;
    },
    log(line) {
      stream.write(`${line}\n`);
    },
  };
}
