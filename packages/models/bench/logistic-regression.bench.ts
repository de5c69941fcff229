// MedFM's Baseline head: one L2-regularised logistic regression per class on L2-normalised
// DenseNet-121-wide features (1024), 19 chest-like classes, at few-shot support sizes, against
// scikit-learn's LogisticRegression (lbfgs, its default tolerance) fitted on the same data in
// the same run. Prints fit times, the ratio and the largest probability difference on queries.
// Run: pnpm bench logistic   (needs /usr/bin/python3 with numpy and sklearn; PYTHON overrides it)
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRandom } from "@medfm/data";
import { fitLogisticRegression } from "../src/index";

const python = process.env.PYTHON ?? "/usr/bin/python3";
const columns = 1024;
const classes = 19;
const queries = 200;
const sizes = (process.env.BENCH_SIZES ?? "19,95,400").split(",").map(Number);

function makeProblem(rows: number, seed: number) {
  const random = createRandom(seed);
  const labels = new Float32Array(rows * classes);
  const data = new Float32Array(rows * columns);
  for (let row = 0; row < rows; row += 1) {
    // Every class gets positives: row r is a positive of class r mod classes, plus random ones.
    for (let c = 0; c < classes; c += 1) {
      labels[row * classes + c] = c === row % classes || random.next() < 0.1 ? 1 : 0;
    }
    for (let k = 0; k < columns; k += 1) {
      const signal = labels[row * classes + (k % classes)] * 0.6;
      data[row * columns + k] = Math.max(0, random.normal() * 0.5 + 0.3 + signal);
    }
  }
  return { data, labels, rows };
}

const script = `
import json, sys, time, warnings
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
warnings.filterwarnings("ignore")
d = sys.argv[1]
meta = json.load(open(d + "/meta.json"))
x = normalize(np.fromfile(d + "/x.f32", dtype=np.float32).reshape(meta["rows"], meta["columns"]).astype(np.float64))
y = np.fromfile(d + "/y.f32", dtype=np.float32).reshape(meta["rows"], meta["classes"])
q = normalize(np.fromfile(d + "/q.f32", dtype=np.float32).reshape(meta["queries"], meta["columns"]).astype(np.float64))
times = []
for repeat in range(3):
    start = time.perf_counter()
    models = [LogisticRegression(C=1.0).fit(x, y[:, c]) for c in range(meta["classes"])]
    times.append(time.perf_counter() - start)
p = np.stack([m.predict_proba(q)[:, 1] for m in models], axis=1)
p.astype(np.float64).tofile(d + "/p.f64")
print(json.dumps({"seconds": sorted(times)[1]}))
`;

const directory = mkdtempSync(join(tmpdir(), "medfm-bench-lr-"));
try {
  writeFileSync(join(directory, "fit.py"), script);
  for (const rows of sizes) {
    const support = makeProblem(rows, rows);
    const query = makeProblem(queries, 1_000 + rows);
    writeFileSync(join(directory, "x.f32"), new Uint8Array(support.data.buffer));
    writeFileSync(join(directory, "y.f32"), new Uint8Array(support.labels.buffer));
    writeFileSync(join(directory, "q.f32"), new Uint8Array(query.data.buffer));
    writeFileSync(
      join(directory, "meta.json"),
      JSON.stringify({ rows, columns, classes, queries }),
    );
    const times: number[] = [];
    let model = fitLogisticRegression({ data: support.data, rows, columns }, support.labels);
    for (let repeat = 0; repeat < 3; repeat += 1) {
      const start = performance.now();
      model = fitLogisticRegression({ data: support.data, rows, columns }, support.labels);
      times.push((performance.now() - start) / 1000);
    }
    const ours = times.sort((a, b) => a - b)[1];
    const reference = spawnSync(python, [join(directory, "fit.py"), directory], {
      encoding: "utf8",
    });
    if (reference.status !== 0) {
      console.log(
        `rows ${rows}: ours ${ours.toFixed(3)}s; scikit-learn unavailable (${reference.stderr.trim().split("\n").at(-1)})`,
      );
      continue;
    }
    const sklearn = JSON.parse(reference.stdout).seconds as number;
    const expected = new Float64Array(readFileSync(join(directory, "p.f64")).buffer.slice(0));
    const actual = model.probabilities({ data: query.data, rows: queries, columns });
    let worst = 0;
    actual.forEach((value, index) => {
      worst = Math.max(worst, Math.abs(value - expected[index]));
    });
    const iterations = Math.max(...model.report.map((entry) => entry.iterations));
    console.log(
      `support ${String(rows).padStart(4)} x ${columns}, ${classes} classes: medfm ${ours.toFixed(3)}s (≤${iterations} L-BFGS iterations/class), scikit-learn ${sklearn.toFixed(3)}s, ratio ${(ours / sklearn).toFixed(2)}x, max |Δp| ${worst.toExponential(1)}`,
    );
  }
} finally {
  rmSync(directory, { recursive: true, force: true });
}
