import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { accuracy, challengeMetrics, meanAveragePrecision, meanRocAuc } from "@medfm/metrics";
import { GridJobConfigError } from "../grid-error";
import type { GridJobExecutor } from "../grid-job";

const classCounts = { chest: 19, colon: 2, endo: 4 } as const;
const dimensions = 6;

/** mulberry32: a small seeded generator, so a configuration always gives the same data. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A tiny real job for grid tests: Gaussian features around one centre per class, `shot`
 * support samples per class, a nearest-centroid probe, scored on 60 held-out samples with
 * the task's challenge metrics from @medfm/metrics. Methods: `nearest-centroid`. The
 * setting `holdMs` keeps the job running that long (reporting progress), so a test can kill
 * its worker mid-job. With `resultsDir`, each completed computation writes a file there,
 * which is how tests count results.
 */
export function syntheticExecutor(resultsDir?: string): GridJobExecutor {
  return async (config, context) => {
    if (config.method !== "nearest-centroid")
      throw new GridJobConfigError(
        "method",
        `the synthetic executor knows nearest-centroid, got ${JSON.stringify(config.method)}`,
      );
    const classes = classCounts[config.task];
    const next = random(config.seed * 1000 + config.experiment * 31 + config.shot);
    const centres = Array.from({ length: classes }, () =>
      Array.from({ length: dimensions }, () => next() * 4),
    );
    const sample = (label: number) => centres[label].map((value) => value + (next() - 0.5) * 3);
    const support = centres.map((_, label) =>
      Array.from({ length: config.shot }, () => sample(label)),
    );
    const means = support.map((points) =>
      Array.from(
        { length: dimensions },
        (_, d) => points.reduce((sum, point) => sum + point[d], 0) / points.length,
      ),
    );
    const labels = Array.from({ length: 60 }, (_, index) => index % classes);
    const scores = labels.map((label) => {
      const point = sample(label);
      return means.map(
        (mean) => -Math.sqrt(mean.reduce((sum, value, d) => sum + (value - point[d]) ** 2, 0)),
      );
    });
    const targets = labels.map((label) =>
      Array.from({ length: classes }, (_, column) => (column === label ? 1 : 0)),
    );
    const holdMs = Number(config.settings.holdMs ?? 0);
    for (let step = 1; step <= 4; step += 1) {
      await new Promise((resolve) => setTimeout(resolve, holdMs / 4));
      await context.progress(step / 5);
    }
    const metrics: Record<string, number> = {};
    for (const metric of challengeMetrics[config.task]) {
      if (metric === "mAP") metrics.mAP = meanAveragePrecision(scores, targets).value;
      if (metric === "AUC") metrics.AUC = meanRocAuc(scores, targets).value;
      if (metric === "accuracy") metrics.accuracy = accuracy(scores, labels);
    }
    if (resultsDir)
      writeFileSync(
        join(resultsDir, `${context.jobId}-${process.pid}-${Date.now()}.json`),
        JSON.stringify(metrics),
      );
    return { metrics };
  };
}
