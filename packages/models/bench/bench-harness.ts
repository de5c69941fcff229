import { spawnSync } from "node:child_process";

// What the model benchmarks (densenet.bench.ts, vit.bench.ts) share: timing a step, the median
// of alternating rounds, and the one-line formats of a rate and a peak resident memory.

/** One timed measurement of a step over a batch. */
export interface Measurement {
  batch: number;
  secondsPerBatch: number;
  imagesPerSecond: number;
  /** Process CPU seconds per batch (all threads): steadier than wall time on a loaded machine. */
  cpuSecondsPerBatch: number;
}

/** What one measuring process (ours or a PyTorch reference) reports. */
export interface BenchResult {
  backend?: string;
  forward?: Measurement;
  train?: Measurement;
  peakRssBytes?: number;
  error?: string;
}

/** Runs `step` once to warm up, then `count` times, and measures the mean batch. */
export async function timed(
  step: () => Promise<void> | void,
  count: number,
  batch: number,
): Promise<Measurement> {
  await step(); // warm-up: XNNPACK operator creation, first allocations
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < count; i++) await step();
  const seconds = (performance.now() - start) / 1000 / count;
  const used = process.cpuUsage(cpu);
  return {
    batch,
    secondsPerBatch: seconds,
    imagesPerSecond: batch / seconds,
    cpuSecondsPerBatch: (used.user + used.system) / 1e6 / count,
  };
}

/** The round with the median images/s (an error only when every round failed). */
export function medianRound<T extends BenchResult>(
  results: T[],
  pick: (result?: BenchResult) => Measurement | undefined,
): T {
  const measured = results.filter((result) => pick(result) !== undefined);
  if (measured.length === 0) return results[0];
  measured.sort((a, b) => pick(a)!.imagesPerSecond - pick(b)!.imagesPerSecond);
  return measured[Math.floor(measured.length / 2)];
}

/** `611 MiB`, or `?` when unknown. */
export const mib = (bytes?: number): string =>
  bytes === undefined ? "?" : `${Math.round(bytes / 2 ** 20)} MiB`;

/** `51.50 img/s, 0.04 CPU-s/img`, or `-` when not measured. */
export const rate = (m?: Measurement): string =>
  m === undefined
    ? "-"
    : `${m.imagesPerSecond.toFixed(2)} img/s, ${(m.cpuSecondsPerBatch / m.batch).toFixed(2)} CPU-s/img`;

/**
 * Runs `script` again in a child Node process with `args` (the bench's own flags plus
 * `--child …`) and returns the result it prints as `RESULT {json}`, or an error with the tail
 * of its output. A hung child (the experimental threaded wasm build can deadlock) is killed
 * after 15 minutes instead of hanging the run.
 */
export function runBenchChild<T extends BenchResult>(
  script: string,
  args: readonly string[],
  cwd: string,
): T | BenchResult {
  const run = spawnSync(process.execPath, [...process.execArgv, script, ...args], {
    cwd,
    encoding: "utf8",
    maxBuffer: 1 << 26,
    timeout: 900_000,
    killSignal: "SIGKILL",
  });
  const line = run.stdout.split("\n").find((text) => text.startsWith("RESULT "));
  if (line !== undefined) return JSON.parse(line.slice(7)) as T;
  const tail = `${run.stderr}${run.stdout}`.trim().split("\n").slice(-3).join(" | ");
  return { error: `exit ${run.status ?? run.signal}: ${tail.slice(0, 400)}` };
}
