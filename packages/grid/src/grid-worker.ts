import { type ConnectionOptions, type Job, UnrecoverableError, Worker } from "bullmq";
import { GridJobConfigError } from "./grid-error";
import type { GridJobData, GridJobExecutor, GridJobResult, GridResultFinder } from "./grid-job";
import { validateJobConfig } from "./job-config";

/** Options of {@link startGridWorker}. */
export interface GridWorkerOptions {
  connection: ConnectionOptions;
  queue: string;
  /** Runs one job. */
  execute: GridJobExecutor;
  /** Looks for a result already computed (in MLflow); found, the job is not run again. */
  findResult?: GridResultFinder;
  /** Jobs run at once by this worker (default 1). */
  concurrency?: number;
  /**
   * Milliseconds a job's lock lasts without renewal (default 30,000, BullMQ's). A worker killed
   * mid-job stops renewing; after this its job is stalled and runs again elsewhere.
   */
  lockDurationMs?: number;
  /** Milliseconds between stalled-job checks (default 30,000). */
  stalledIntervalMs?: number;
  /** Times a job may stall (its worker lost) before it fails (default 3). */
  maxStalledCount?: number;
  log?: (line: string) => void;
}

/**
 * Starts a BullMQ worker for a grid queue. Each job's configuration is checked first: an
 * invalid one fails at once, without retries, with the field at fault. A result already in
 * MLflow ({@link GridWorkerOptions.findResult}) is returned without computing; otherwise the
 * executor runs and its result becomes the job's return value. Thrown errors are retried up to
 * the job's attempts, then the job is in the failed set with the error.
 */
export function startGridWorker(options: GridWorkerOptions): Worker<GridJobData, GridJobResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const processor = async (job: Job<GridJobData, GridJobResult>): Promise<GridJobResult> => {
    const jobId = job.id ?? "";
    let config: ReturnType<typeof validateJobConfig>;
    try {
      config = validateJobConfig(job.data?.config);
    } catch (error) {
      if (GridJobConfigError.isInstance(error))
        throw new UnrecoverableError(`job ${jobId}: ${(error as Error).message}`);
      throw error;
    }
    const found = await options.findResult?.(jobId, config);
    if (found) {
      log(`${jobId} already has a result in run ${found.runId ?? "?"}; not computed again`);
      await job.updateProgress(1);
      return { jobId, config, ...found, reused: true, seconds: 0 };
    }
    const started = performance.now();
    log(`${jobId} ${config.task} ${config.shot}-shot exp${config.experiment} ${config.method}`);
    let outcome: Awaited<ReturnType<GridJobExecutor>>;
    try {
      outcome = await options.execute(config, {
        jobId,
        progress: (fraction) => job.updateProgress(Math.round(fraction * 100) / 100),
        log,
      });
    } catch (error) {
      // A configuration the executor cannot run (an unknown method) fails the same on a retry.
      if (GridJobConfigError.isInstance(error))
        throw new UnrecoverableError(`job ${jobId}: ${(error as Error).message}`);
      throw error;
    }
    await job.updateProgress(1);
    return {
      jobId,
      config,
      ...outcome,
      reused: false,
      seconds: (performance.now() - started) / 1000,
    };
  };
  return new Worker<GridJobData, GridJobResult>(options.queue, processor, {
    connection: options.connection,
    concurrency: options.concurrency ?? 1,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 3,
  });
}
