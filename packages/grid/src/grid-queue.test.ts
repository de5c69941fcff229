import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatGridReport, gridReport } from "./grid-report";
import { formatGridStatus, type GridStatus, gridStatus } from "./grid-status";
import { startGridWorker } from "./grid-worker";
import type { GridJobConfig } from "./job-config";
import { jobIdOf } from "./job-id";
import { type GridPlan, planGrid } from "./plan-grid";
import { redisConnectionOptions } from "./redis-connection";
import { submitPlan } from "./submit-plan";
import { hasRedisServer, startTestRedis, type TestRedisServer } from "./testing/redis-server";
import { syntheticExecutor } from "./testing/synthetic-executor";

const workerScript = fileURLToPath(new URL("./testing/grid-worker-process.ts", import.meta.url));
const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));

if (!hasRedisServer)
  console.warn("grid queue tests skipped: redis-server is not on the PATH (.ci/run installs it)");

/** 12 small jobs: 3 tasks × 2 shots × 2 experiments of the synthetic nearest-centroid probe. */
function smallPlan(sets: Record<string, number[]> = {}): GridPlan {
  return planGrid({
    tasks: ["chest", "colon", "endo"],
    shots: [1, 5],
    experiments: [1, 2],
    methods: ["nearest-centroid"],
    seeds: [0],
    sets,
    imageSize: 8,
    batchSize: 4,
    epochs: 1,
  });
}

describe.skipIf(!hasRedisServer)("grid on a real redis-server", () => {
  let redis: TestRedisServer;
  const children: ChildProcess[] = [];
  let queueCount = 0;
  const nextQueue = () => `grid-test-${process.pid}-${++queueCount}`;
  const connection = () => redisConnectionOptions({ url: redis.url, env: {} });

  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await redis?.stop();
  });

  /** Starts a worker process; resolves once it is connected. */
  function spawnWorker(queue: string, resultsDir: string) {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", workerScript, redis.url, queue, resultsDir],
      {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    children.push(child);
    const lines: string[] = [];
    const waiters: Array<{ test: (line: string) => boolean; resolve: (line: string) => void }> = [];
    let buffered = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        for (const waiter of [...waiters])
          if (waiter.test(line)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
      }
    });
    const waitFor = (test: (line: string) => boolean) =>
      new Promise<string>((resolve, reject) => {
        const seen = lines.find(test);
        if (seen) return resolve(seen);
        waiters.push({ test, resolve });
        child.once("exit", (code, signal) =>
          reject(new Error(`worker exited (${code ?? signal}) before the expected line`)),
        );
      });
    return { child, ready: waitFor((line) => line === "ready"), waitFor };
  }

  /** Polls the queue until no job is waiting, delayed or active. */
  async function settled(queue: string, total: number): Promise<GridStatus> {
    for (;;) {
      const status = await gridStatus({ connection: connection(), queue });
      if (status.counts.completed + status.counts.failed >= total) return status;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  const resultFiles = (dir: string) => readdirSync(dir).map((name) => name.slice(0, 25));

  it("runs 12 jobs on 3 worker processes to 12 results, no duplicates; resubmitting adds nothing", async () => {
    const queue = nextQueue();
    const resultsDir = mkdtempSync(join(tmpdir(), "medfm-grid-results-"));
    const plan = smallPlan();
    expect(plan.jobs).toHaveLength(12);
    const first = await submitPlan({ connection: connection(), queue, plan });
    expect(first.added).toHaveLength(12);
    const workers = [1, 2, 3].map(() => spawnWorker(queue, resultsDir));
    await Promise.all(workers.map((worker) => worker.ready));
    const status = await settled(queue, 12);
    expect(status.counts).toMatchObject({ completed: 12, failed: 0, active: 0, waiting: 0 });
    const ids = status.results.map((result) => result.jobId).sort();
    expect(ids).toEqual(plan.jobs.map((job) => job.id).sort());
    expect(resultFiles(resultsDir).sort()).toEqual(ids);

    const again = await submitPlan({ connection: connection(), queue, plan });
    expect(again).toEqual({ added: [], existing: expect.arrayContaining(ids) });
    expect((await gridStatus({ connection: connection(), queue })).total).toBe(12);

    const report = gridReport(status.results);
    expect(report.tables.map((table) => table.task)).toEqual(["chest", "colon", "endo"]);
    expect(report.tables[1].shots.map((shot) => shot.shot)).toEqual([1, 5]);
    expect(report.tables[1].shots[0].cells.map((cell) => cell.metric).sort()).toEqual([
      "AUC",
      "accuracy",
    ]);
    expect(report.scores).toHaveLength(1);
    expect(report.scores[0].score?.count).toBe(24);
    expect(formatGridReport(report)).toMatch(
      /Challenge score \(nearest-centroid seed=0 .*\): \d+\.\d\d/,
    );
    expect(formatGridStatus(status)).toContain(
      "12 jobs, 0 waiting, 0 active, 0 delayed, 12 completed, 0 failed",
    );
    for (const worker of workers) worker.child.kill("SIGTERM");
  });

  it("reruns the job of a worker killed with -9 mid-job elsewhere: one result per job", async () => {
    const queue = nextQueue();
    const resultsDir = mkdtempSync(join(tmpdir(), "medfm-grid-results-"));
    const plan = smallPlan({ holdMs: [400] });
    await submitPlan({ connection: connection(), queue, plan });
    const doomed = spawnWorker(queue, resultsDir);
    const line = await doomed.waitFor((text) => text.startsWith("active "));
    const killedJob = line.slice("active ".length);
    doomed.child.kill("SIGKILL");
    const survivors = [1, 2].map(() => spawnWorker(queue, resultsDir));
    await Promise.all(survivors.map((worker) => worker.ready));
    const status = await settled(queue, 12);
    expect(status.counts).toMatchObject({ completed: 12, failed: 0 });
    const files = resultFiles(resultsDir);
    expect(files.sort()).toEqual(plan.jobs.map((job) => job.id).sort());
    const rerun = readdirSync(resultsDir).find((name) => name.startsWith(killedJob)) ?? "";
    expect(rerun.split("-")[1]).not.toBe(String(doomed.child.pid));
    for (const worker of survivors) worker.child.kill("SIGTERM");
  });

  it("fails a job with an invalid configuration at once, naming the field, and runs the others", async () => {
    const queue = nextQueue();
    const resultsDir = mkdtempSync(join(tmpdir(), "medfm-grid-results-"));
    const plan = smallPlan();
    const broken: GridJobConfig = { ...plan.jobs[0].config, shot: 0 };
    const unknownMethod: GridJobConfig = { ...plan.jobs[0].config, method: "vpt" };
    plan.jobs.unshift(
      { id: jobIdOf(broken), config: broken },
      { id: jobIdOf(unknownMethod), config: unknownMethod },
    );
    await submitPlan({ connection: connection(), queue, plan, attempts: 3 });
    const worker = startGridWorker({
      connection: connection(),
      queue,
      execute: syntheticExecutor(resultsDir),
      log: () => {},
    });
    try {
      const status = await settled(queue, 14);
      expect(status.counts).toMatchObject({ completed: 12, failed: 2 });
      const failures = Object.fromEntries(
        status.failures.map((failure) => [failure.jobId, failure]),
      );
      expect(failures[jobIdOf(broken)].error).toBe(
        `job ${jobIdOf(broken)}: invalid job configuration: shot: expected a positive integer, got 0`,
      );
      expect(failures[jobIdOf(unknownMethod)].error).toMatch(
        /invalid job configuration: method: the synthetic executor knows nearest-centroid, got "vpt"/,
      );
      expect(status.failures.map((failure) => failure.attempts)).toEqual([1, 1]);
      expect(formatGridStatus(status)).toContain(
        `  ${jobIdOf(broken)} chest 0-shot exp1 nearest-centroid (1 tries): job ${jobIdOf(broken)}: invalid job configuration: shot`,
      );
    } finally {
      await worker.close();
    }
  });

  it("completes the grid when Redis restarts mid-grid (append-only file on)", async () => {
    const queue = nextQueue();
    const resultsDir = mkdtempSync(join(tmpdir(), "medfm-grid-results-"));
    const plan = smallPlan({ holdMs: [200] });
    await submitPlan({ connection: connection(), queue, plan });
    const workers = [1, 2].map(() => spawnWorker(queue, resultsDir));
    await Promise.all(workers.map((worker) => worker.ready));
    for (;;) {
      const status = await gridStatus({ connection: connection(), queue });
      if (status.counts.completed >= 3) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await redis.restart();
    const status = await settled(queue, 12);
    expect(status.counts).toMatchObject({ completed: 12, failed: 0 });
    expect(new Set(status.results.map((result) => result.jobId)).size).toBe(12);
    for (const worker of workers) worker.child.kill("SIGTERM");
  });
});
