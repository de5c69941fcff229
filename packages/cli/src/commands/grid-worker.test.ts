import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type GridPlan,
  type GridStatus,
  gridStatus,
  planGrid,
  redisConnectionOptions,
  submitPlan,
} from "@medfm/grid";
import { listRuns, readRun } from "@medfm/track";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMedfm } from "../testing/run-medfm";
import { type MedfmChild, spawnMedfm } from "../testing/spawn-medfm";

const hasRedisServer = spawnSync("redis-server", ["--version"]).status === 0;
if (!hasRedisServer)
  console.warn(
    "medfm grid worker tests skipped: redis-server is not on the PATH (.ci/run installs it)",
  );

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Few-shot jobs of `medfm fewshot` on the shipped synthetic colon data, small enough for CI. */
function fewShotPlan(seeds: number[], sets: Record<string, number[]> = {}): GridPlan {
  return planGrid({
    tasks: ["colon"],
    shots: [1],
    experiments: [1, 2],
    methods: ["linear-probe"],
    seeds,
    sets,
    imageSize: 32,
    batchSize: 8,
    epochs: 1,
  });
}

/** Job ids each worker printed as it started computing them (the grid worker's log line). */
function startedJobs(output: string): string[] {
  return [...output.matchAll(/^(g[0-9a-f]{24}) colon 1-shot exp\d linear-probe$/gm)].map(
    (match) => match[1],
  );
}

describe.skipIf(!hasRedisServer)("medfm grid worker (child processes, real few-shot jobs)", () => {
  let redis: ChildProcess;
  let url: string;
  const children: MedfmChild[] = [];
  let queueCount = 0;
  const nextQueue = () => `cli-grid-${process.pid}-${++queueCount}`;
  const connection = () => redisConnectionOptions({ url, env: {} });

  beforeAll(async () => {
    const port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    const dir = mkdtempSync(join(tmpdir(), "medfm-cli-redis-"));
    redis = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""],
      { stdio: "ignore" },
    );
    for (let attempt = 0; attempt < 200; attempt += 1) {
      const answer = spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" });
      if (answer.stdout?.trim() === "PONG") return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server on ${port} did not answer PING`);
  });
  afterAll(() => {
    for (const child of children)
      if (child.process.exitCode === null) child.process.kill("SIGKILL");
    redis?.kill("SIGTERM");
  });

  /** `medfm grid worker` in `cwd`, results in Redis only (no MLflow). */
  function worker(cwd: string, queue: string, extra: string[] = []): MedfmChild {
    const child = spawnMedfm(
      ["grid", "worker", "--redis", url, "--queue", queue, "--drain", ...extra],
      { cwd, env: { MEDFM_TRACK_URI: "" } },
    );
    children.push(child);
    return child;
  }

  async function settled(queue: string, total: number): Promise<GridStatus> {
    for (;;) {
      const status = await gridStatus({ connection: connection(), queue });
      if (status.counts.completed + status.counts.failed >= total) return status;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  it("two workers in one folder, without --data-root, drain a grid of real few-shot jobs: every job once, --set settings in each result", async () => {
    const queue = nextQueue();
    // One working folder: both workers prepare the synthetic data there, at the same time.
    const cwd = mkdtempSync(join(tmpdir(), "medfm-cli-grid-"));
    const plan = fewShotPlan([0, 1], { "probe-c": [0.5, 2] });
    expect(plan.jobs).toHaveLength(8);
    await submitPlan({ connection: connection(), queue, plan });
    const workers = [worker(cwd, queue), worker(cwd, queue)];
    const exits = await Promise.all(workers.map((child) => child.exited));
    expect(exits.map((exit) => exit.code)).toEqual([0, 0]);
    const status = await settled(queue, 8);
    expect(status.counts).toMatchObject({ completed: 8, failed: 0, active: 0, waiting: 0 });
    const ids = plan.jobs.map((job) => job.id).sort();
    expect(status.results.map((result) => result.jobId).sort()).toEqual(ids);
    const started = exits.flatMap((exit) => startedJobs(exit.output));
    expect(started.sort()).toEqual(ids);
    // Both took jobs (the grid was shared), and the results are runFewShot's metrics.
    for (const exit of exits) expect(startedJobs(exit.output).length).toBeGreaterThan(0);
    for (const result of status.results) {
      expect(result.reused).toBe(false);
      expect(Object.keys(result.metrics).sort()).toEqual(["AUC", "accuracy"]);
      for (const value of Object.values(result.metrics)) {
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThanOrEqual(1);
      }
      expect([0.5, 2]).toContain(result.config.settings["probe-c"]);
    }
  }, 600_000);

  it("reruns the job of a worker killed with -9 mid-job on the other worker, which completes it once", async () => {
    const queue = nextQueue();
    const cwd = mkdtempSync(join(tmpdir(), "medfm-cli-grid-kill-"));
    const plan = fewShotPlan([0]);
    await submitPlan({ connection: connection(), queue, plan });
    // A short lock, so its job is stalled soon after the kill.
    const doomed = worker(cwd, queue, ["--lock-ms", "3000"]);
    const [, killedJob] = await doomed.waitFor(/^(g[0-9a-f]{24}) colon 1-shot/m);
    doomed.process.kill("SIGKILL");
    const killed = await doomed.exited;
    expect(killed.signal).toBe("SIGKILL");
    expect(startedJobs(killed.output)).toEqual([killedJob]);
    const survivor = worker(cwd, queue, ["--lock-ms", "8000"]);
    const survived = await survivor.exited;
    expect(survived.code).toBe(0);
    const status = await settled(queue, plan.jobs.length);
    expect(status.counts).toMatchObject({ completed: 2, failed: 0, active: 0, waiting: 0 });
    expect(status.results.map((result) => result.jobId).sort()).toEqual(
      plan.jobs.map((job) => job.id).sort(),
    );
    // The killed job ran again on the survivor, once; the other job ran there once too.
    expect(startedJobs(survived.output).sort()).toEqual(plan.jobs.map((job) => job.id).sort());
  }, 600_000);

  it("runs train jobs through medfm train on the K-shot file, each --set lr reaching the training", async () => {
    const queue = nextQueue();
    const cwd = mkdtempSync(join(tmpdir(), "medfm-cli-grid-train-"));
    const plan = planGrid({
      tasks: ["colon"],
      shots: [1],
      experiments: [1],
      methods: ["train"],
      seeds: [0],
      sets: { lr: [0.01, 0.001] },
      imageSize: 32,
      batchSize: 8,
      epochs: 1,
    });
    await submitPlan({ connection: connection(), queue, plan });
    const exit = await worker(cwd, queue).exited;
    expect(exit.code).toBe(0);
    const status = await settled(queue, 2);
    expect(status.counts).toMatchObject({ completed: 2, failed: 0 });
    for (const result of status.results) {
      expect(Object.keys(result.metrics).sort()).toEqual(["AUC", "accuracy"]);
      // One checkpoint folder per job.
      expect(existsSync(join(cwd, ".medfm", "grid", result.jobId, "last"))).toBe(true);
    }
    const trained = listRuns(join(cwd, ".medfm", "runs")).map((folder) => readRun(folder).params);
    expect(trained.map((params) => params.lr).sort()).toEqual([0.001, 0.01]);
    for (const params of trained) {
      expect(params.train).toBe(
        join(
          ".medfm",
          "datasets",
          "synthetic-colon-32px-seed0",
          "fewshot",
          "colon_1-shot_train_exp1.txt",
        ),
      );
      expect(params.epochs).toBe(1);
    }
  }, 600_000);

  it("refuses a --set key few-shot jobs do not take, naming it and the allowed ones", async () => {
    await expect(
      runMedfm(["grid", "plan", "--task", "colon", "--shots", "1", "--set", "momentum=0.9"]),
    ).rejects.toThrow(/"momentum".*lr, weight-decay, probe-c/);
    await expect(
      runMedfm(["grid", "plan", "--task", "colon", "--method", "linear-probe", "--set", "lr=0.1"]),
    ).rejects.toThrow(
      /lr does not change linear-probe; it applies to visual-prompt, vpt, finetune/,
    );
    await expect(
      runMedfm(["grid", "plan", "--task", "colon", "--set", "shots=1,5"]),
    ).rejects.toThrow(/--set shots: sweep it with --shots/);
    await expect(
      runMedfm(["grid", "plan", "--task", "colon", "--method", "train", "--set", "probe-c=1"]),
    ).rejects.toThrow(
      /medfm train has no setting "probe-c"; the settings are lr, optimizer, backbone, head/,
    );
  });
});
