import { type ConnectionOptions, type Job, Queue } from "bullmq";
import type { GridJobData, GridJobResult } from "./grid-job";

/** The BullMQ states a grid job can be in, as `medfm grid status` counts them. */
export const gridJobStates = ["waiting", "active", "delayed", "completed", "failed"] as const;

/** One grid job's state. */
export type GridJobState = (typeof gridJobStates)[number];

/** Counts of one task × shot × method group. */
export interface GridStatusGroup {
  task: string;
  shot: number;
  method: string;
  counts: Record<GridJobState, number>;
}

/** A job in the failed set, with the error of its last try. */
export interface GridFailure {
  jobId: string;
  task: string;
  shot: number;
  experiment: number;
  method: string;
  error: string;
  attempts: number;
}

/** What {@link gridStatus} returns. */
export interface GridStatus {
  queue: string;
  total: number;
  counts: Record<GridJobState, number>;
  groups: GridStatusGroup[];
  failures: GridFailure[];
  /** Results of the completed jobs. */
  results: GridJobResult[];
}

const zeroCounts = (): Record<GridJobState, number> => ({
  waiting: 0,
  active: 0,
  delayed: 0,
  completed: 0,
  failed: 0,
});

/** Options of {@link gridStatus}. */
export interface GridStatusOptions {
  connection: ConnectionOptions;
  queue: string;
}

/**
 * Reads every job of a grid queue with its state: counts overall and per task × shot × method,
 * the failed jobs with their errors, and the completed jobs' results.
 */
export async function gridStatus(options: GridStatusOptions): Promise<GridStatus> {
  const queue = new Queue<GridJobData, GridJobResult>(options.queue, {
    connection: options.connection,
  });
  try {
    const read: Array<[GridJobState, Job<GridJobData, GridJobResult>[]]> = [];
    for (const state of gridJobStates) {
      const types = state === "waiting" ? (["waiting", "prioritized"] as const) : [state];
      read.push([state, await queue.getJobs([...types], 0, -1)]);
    }
    return { queue: options.queue, ...tallyGridJobs(read) };
  } finally {
    await queue.close();
  }
}

/** A {@link GridStatus} as text: overall counts, a table per group, and each failure's error. */
export function formatGridStatus(status: GridStatus): string {
  const lines = [
    `queue ${status.queue}: ${status.total} jobs, ${gridJobStates.map((state) => `${status.counts[state]} ${state}`).join(", ")}`,
    "",
    `| task | shot | method | ${gridJobStates.join(" | ")} |`,
    `|---|---|---|${gridJobStates.map(() => "---").join("|")}|`,
    ...status.groups.map(
      (group) =>
        `| ${group.task} | ${group.shot} | ${group.method} | ${gridJobStates.map((state) => group.counts[state]).join(" | ")} |`,
    ),
  ];
  if (status.failures.length > 0) {
    lines.push("", "failed:");
    for (const failure of status.failures)
      lines.push(
        `  ${failure.jobId} ${failure.task} ${failure.shot}-shot exp${failure.experiment} ${failure.method} (${failure.attempts} tries): ${failure.error}`,
      );
  }
  return lines.join("\n");
}

/**
 * Counts, groups, failures and results of grid jobs read state by state, in
 * {@link gridJobStates}' order. The reads are not one snapshot: a job that moves on while they
 * run (waiting → active → completed, or active → delayed, failed) shows up under two states, and
 * is counted once, under the state read last (the later one in its life). A retried job that goes
 * from delayed back to waiting between the reads is missed by that call.
 */
export function tallyGridJobs(
  read: ReadonlyArray<
    readonly [GridJobState, ReadonlyArray<Job<GridJobData, GridJobResult> | undefined>]
  >,
): Omit<GridStatus, "queue"> {
  const latest = new Map<string, { state: GridJobState; job: Job<GridJobData, GridJobResult> }>();
  const anonymous: Array<{ state: GridJobState; job: Job<GridJobData, GridJobResult> }> = [];
  for (const [state, jobs] of read) {
    for (const job of jobs) {
      if (!job) continue;
      if (job.id === undefined) anonymous.push({ state, job });
      else {
        latest.delete(job.id);
        latest.set(job.id, { state, job });
      }
    }
  }
  const counts = zeroCounts();
  const groups = new Map<string, GridStatusGroup>();
  const failures: GridFailure[] = [];
  const results: GridJobResult[] = [];
  for (const { state, job } of [...latest.values(), ...anonymous]) {
    counts[state] += 1;
    const config = job.data?.config;
    const task = String(config?.task ?? "?");
    const shot = Number(config?.shot ?? 0);
    const method = String(config?.method ?? "?");
    const key = `${task}\u0000${shot}\u0000${method}`;
    let group = groups.get(key);
    if (!group) {
      group = { task, shot, method, counts: zeroCounts() };
      groups.set(key, group);
    }
    group.counts[state] += 1;
    if (state === "failed")
      failures.push({
        jobId: job.id ?? "",
        task,
        shot,
        experiment: Number(config?.experiment ?? 0),
        method,
        error: job.failedReason ?? "",
        attempts: job.attemptsMade,
      });
    if (state === "completed" && job.returnvalue) results.push(job.returnvalue);
  }
  const sortedGroups = [...groups.values()].sort(
    (a, b) => a.task.localeCompare(b.task) || a.shot - b.shot || a.method.localeCompare(b.method),
  );
  const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
  return { total, counts, groups: sortedGroups, failures, results };
}
