import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { searchMlflowRuns } from "@medfm/track";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gridJobIdTag } from "./grid-job";
import { type GridStatus, gridStatus } from "./grid-status";
import { startGridWorker } from "./grid-worker";
import { mlflowResultFinder, trackedExecutor } from "./mlflow-results";
import { planGrid } from "./plan-grid";
import { redisConnectionOptions } from "./redis-connection";
import { submitPlan } from "./submit-plan";
import { hasRedisServer, startTestRedis, type TestRedisServer } from "./testing/redis-server";
import { syntheticExecutor } from "./testing/synthetic-executor";

const uri = process.env.MEDFM_TEST_MLFLOW_URI;
if (!uri) console.warn("grid MLflow tests skipped: MEDFM_TEST_MLFLOW_URI is not set");

describe.skipIf(!hasRedisServer || !uri)("grid results in a real MLflow server", () => {
  let redis: TestRedisServer;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  async function settled(queue: string, total: number): Promise<GridStatus> {
    const connection = redisConnectionOptions({ url: redis.url, env: {} });
    for (;;) {
      const status = await gridStatus({ connection, queue });
      if (status.counts.completed + status.counts.failed >= total) return status;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it("logs each job as one FINISHED run tagged with its id, and reuses it instead of recomputing", async () => {
    const experiment = `medfm-grid-test-${process.pid}-${Date.now()}`;
    const resultsDir = mkdtempSync(join(tmpdir(), "medfm-grid-results-"));
    const root = mkdtempSync(join(tmpdir(), "medfm-grid-runs-"));
    const tracking = { uri, experiment, root, env: {} };
    const plan = planGrid({
      tasks: ["colon"],
      shots: [1],
      experiments: [1, 2, 3],
      methods: ["nearest-centroid"],
      seeds: [0],
      imageSize: 8,
      batchSize: 4,
      epochs: 1,
    });
    const connection = redisConnectionOptions({ url: redis.url, env: {} });
    const worker = startGridWorker({
      connection,
      queue: `${experiment}-a`,
      execute: trackedExecutor(syntheticExecutor(resultsDir), tracking),
      findResult: mlflowResultFinder(tracking),
      log: () => {},
    });
    try {
      await submitPlan({ connection, queue: `${experiment}-a`, plan });
      const first = await settled(`${experiment}-a`, 3);
      expect(first.counts.completed).toBe(3);
      expect(first.results.every((result) => !result.reused)).toBe(true);
      for (const result of first.results) {
        const runs = await searchMlflowRuns({
          uri,
          env: {},
          experiment,
          tags: { [gridJobIdTag]: result.jobId },
        });
        expect(runs.map((run) => run.status)).toEqual(["FINISHED"]);
        expect(runs[0].metrics["result/AUC"]).toBeCloseTo(result.metrics.AUC, 6);
        expect(runs[0].metrics["result/accuracy"]).toBeCloseTo(result.metrics.accuracy, 6);
        expect(runs[0].params).toMatchObject({
          task: "colon",
          shot: "1",
          method: "nearest-centroid",
        });
      }

      // The same plan on a fresh queue (a lost Redis, another team's queue): nothing recomputed.
      await worker.close();
      const again = startGridWorker({
        connection,
        queue: `${experiment}-b`,
        execute: trackedExecutor(syntheticExecutor(resultsDir), tracking),
        findResult: mlflowResultFinder(tracking),
        log: () => {},
      });
      try {
        await submitPlan({ connection, queue: `${experiment}-b`, plan });
        const second = await settled(`${experiment}-b`, 3);
        expect(second.results.every((result) => result.reused)).toBe(true);
        const byId = (status: GridStatus) =>
          Object.fromEntries(status.results.map((result) => [result.jobId, result.metrics]));
        for (const [id, metrics] of Object.entries(byId(first)))
          expect(byId(second)[id].AUC).toBeCloseTo(metrics.AUC, 6);
        expect(readdirSync(resultsDir)).toHaveLength(3);
      } finally {
        await again.close();
      }
    } finally {
      await worker.close();
    }
  });
});
