// mAP + macro ROC AUC over 200,000 x 19 scores with many ties, against scikit-learn's
// average_precision_score and roc_auc_score per class, measured in the same run.
// Run: pnpm bench metrics   (needs /usr/bin/python3 with numpy and sklearn; PYTHON overrides it)
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createMetricAccumulator,
  meanAveragePrecision,
  meanRocAuc,
  rankingMetrics,
} from "../src/index";

const rows = Number(process.env.BENCH_ROWS ?? 200_000);
const classes = 19;
const repeats = 5;
const python = process.env.PYTHON ?? "/usr/bin/python3";

// Chest-like data: prevalence from 1% to 40%, scores that rise with the target, rounded to
// 3 decimals and stored as float32 (as a model's sigmoid output would be), so ties are many.
// mulberry32: @medfm/metrics imports nothing, not even @medfm/data's generator.
let seed = 20231106;
const random = {
  next(): number {
    seed = (seed + 0x6d2b79f5) | 0;
    let value = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value;
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  },
};
const scores = new Float32Array(rows * classes);
const targets = new Uint8Array(rows * classes);
for (let row = 0; row < rows; row++) {
  for (let column = 0; column < classes; column++) {
    const prevalence = 0.01 + (0.39 * column) / (classes - 1);
    const target = random.next() < prevalence ? 1 : 0;
    const noisy = 0.35 * target + 0.65 * random.next();
    targets[row * classes + column] = target;
    scores[row * classes + column] = Math.round(noisy * 1000) / 1000;
  }
}
const shape = [rows, classes] as const;

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.floor(sorted.length / 2)];
}

function time<T>(run: () => T): { result: T; seconds: number } {
  run(); // warm-up
  const seconds: number[] = [];
  let result: T = run();
  for (let index = 0; index < repeats; index++) {
    const start = process.hrtime.bigint();
    result = run();
    seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return { result, seconds: median(seconds) };
}

const separate = time(() => ({
  ap: meanAveragePrecision(
    { data: scores, shape },
    { data: targets, shape },
    { definition: "sklearn" },
  ),
  auc: meanRocAuc({ data: scores, shape }, { data: targets, shape }),
}));
const combined = time(() =>
  rankingMetrics(
    { data: scores, shape },
    { data: targets, shape },
    { averagePrecision: "sklearn" },
  ),
);
const mmpretrain = time(() =>
  meanAveragePrecision({ data: scores, shape }, { data: targets, shape }),
);
const accumulated = time(() => {
  const accumulator = createMetricAccumulator({ classes });
  for (let start = 0; start < rows; start += 1000) {
    const end = Math.min(rows, start + 1000);
    accumulator.add(
      { data: scores.subarray(start * classes, end * classes), shape: [end - start, classes] },
      { data: targets.subarray(start * classes, end * classes), shape: [end - start, classes] },
    );
  }
  return accumulator.compute({ averagePrecision: "sklearn" });
});

const directory = mkdtempSync(join(tmpdir(), "medfm-metrics-bench-"));
writeFileSync(join(directory, "scores.f32"), scores);
writeFileSync(join(directory, "targets.u8"), targets);
const reference = spawnSync(
  python,
  [
    "-c",
    `
import json, sys, time
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
rows, classes, repeats = ${rows}, ${classes}, ${Math.min(repeats, 3)}
scores = np.fromfile(sys.argv[1], dtype=np.float32).reshape(rows, classes)
targets = np.fromfile(sys.argv[2], dtype=np.uint8).reshape(rows, classes)
def run():
    ap = [float(average_precision_score(targets[:, k], scores[:, k])) for k in range(classes)]
    auc = [float(roc_auc_score(targets[:, k], scores[:, k])) for k in range(classes)]
    return ap, auc
run()
times = []
for _ in range(repeats):
    start = time.perf_counter()
    ap, auc = run()
    times.append(time.perf_counter() - start)
print(json.dumps({"ap": ap, "auc": auc, "seconds": sorted(times)[len(times) // 2]}))
`,
    join(directory, "scores.f32"),
    join(directory, "targets.u8"),
  ],
  { encoding: "utf8", maxBuffer: 1 << 24 },
);
rmSync(directory, { recursive: true, force: true });
if (reference.status !== 0) {
  console.error(`sklearn reference failed (${python}):\n${reference.stderr}`);
  process.exit(1);
}
const sklearn = JSON.parse(reference.stdout) as { ap: number[]; auc: number[]; seconds: number };

const maxDifference = (left: number[], right: number[]) =>
  Math.max(...left.map((value, index) => Math.abs(value - right[index])));
const apDifference = maxDifference(separate.result.ap.perClass, sklearn.ap);
const aucDifference = maxDifference(separate.result.auc.perClass, sklearn.auc);
const combinedDifference = Math.max(
  maxDifference(combined.result.meanAveragePrecision.perClass, sklearn.ap),
  maxDifference(combined.result.meanRocAuc.perClass, sklearn.auc),
);
const accumulatedDifference = Math.max(
  maxDifference(accumulated.result.meanAveragePrecision.perClass, sklearn.ap),
  maxDifference(accumulated.result.meanRocAuc.perClass, sklearn.auc),
);
const equal =
  apDifference < 1e-12 &&
  aucDifference < 1e-12 &&
  combinedDifference < 1e-12 &&
  accumulatedDifference < 1e-12;
const ms = (seconds: number) => `${(seconds * 1000).toFixed(1)} ms`;

console.log(
  `mAP + macro AUC, ${rows} x ${classes} float32 scores on a 0.001 grid (median of ${repeats})`,
);
console.log(`  sklearn (per class AP + AUC)              ${ms(sklearn.seconds)}`);
console.log(
  `  meanAveragePrecision + meanRocAuc          ${ms(separate.seconds)}  ${(sklearn.seconds / separate.seconds).toFixed(1)}x faster`,
);
console.log(
  `  rankingMetrics (one sort per class)        ${ms(combined.seconds)}  ${(sklearn.seconds / combined.seconds).toFixed(1)}x faster`,
);
console.log(
  `  accumulator (1000-row batches, one sort)   ${ms(accumulated.seconds)}  ${(sklearn.seconds / accumulated.seconds).toFixed(1)}x faster`,
);
console.log(`  meanAveragePrecision (mmpretrain) alone    ${ms(mmpretrain.seconds)}`);
console.log(
  `  results equal to sklearn: ${equal ? "yes" : "NO"} (max |diff| AP ${apDifference.toExponential(1)}, AUC ${aucDifference.toExponential(1)}, rankingMetrics ${combinedDifference.toExponential(1)}, accumulator ${accumulatedDifference.toExponential(1)})`,
);
console.log(
  `  mAP sklearn definition ${separate.result.ap.value.toFixed(6)} vs mmpretrain ${mmpretrain.result.value.toFixed(6)} (they differ on ties)`,
);
if (!equal) process.exit(1);
