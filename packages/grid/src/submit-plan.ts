import { type ConnectionOptions, Queue } from "bullmq";
import { type GridJobData, gridJobName } from "./grid-job";
import type { GridPlan } from "./plan-grid";

/** Options of {@link submitPlan}. */
export interface SubmitPlanOptions {
  connection: ConnectionOptions;
  /** The queue name, shared by `submit`, `worker`, `status` and `report`. */
  queue: string;
  plan: GridPlan;
  /** Tries per job before it goes to the failed set (default 3). */
  attempts?: number;
  /** First retry delay in milliseconds, doubled each retry (default 1000). */
  backoffMs?: number;
}

/** What {@link submitPlan} did. */
export interface SubmitPlanResult {
  /** Ids of jobs newly enqueued. */
  added: string[];
  /** Ids of jobs the queue already had (waiting, running, finished or failed). */
  existing: string[];
}

/**
 * Enqueues a plan's jobs with their plan ids as BullMQ job ids. BullMQ adds a job whose id the
 * queue already holds only once, so submitting the same plan again, from any machine, adds
 * nothing; finished jobs are kept so that stays true after they ran.
 */
export async function submitPlan(options: SubmitPlanOptions): Promise<SubmitPlanResult> {
  const queue = new Queue<GridJobData>(options.queue, { connection: options.connection });
  try {
    const existing = new Set<string>();
    for (const job of options.plan.jobs) {
      if (await queue.getJob(job.id)) existing.add(job.id);
    }
    const fresh = options.plan.jobs.filter((job) => !existing.has(job.id));
    await queue.addBulk(
      fresh.map((job) => ({
        name: gridJobName,
        data: { config: job.config },
        opts: {
          jobId: job.id,
          attempts: options.attempts ?? 3,
          backoff: { type: "exponential", delay: options.backoffMs ?? 1000 },
          removeOnComplete: false,
          removeOnFail: false,
        },
      })),
    );
    return { added: fresh.map((job) => job.id), existing: [...existing] };
  } finally {
    await queue.close();
  }
}
