// Benchmark of @medfm/track (run with `pnpm bench track`):
// 1. the median cost of one `append()` (offline run, so only the journal is involved);
// 2. 100,000 metric points to the local MLflow server (scripts/mlflow/start.sh): our async client,
//    from the first append until `stop()` has delivered everything, against MLflow's Python
//    client `log_batch` (1000 metrics per call) in the same run. Prints the throughput ratio.
// Goals: append() under 5 µs; at least 1x the Python client's throughput.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { initRun, mlflow } from "../src/index";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const points = Number(process.env.BENCH_POINTS ?? 100_000);
const keys = 4;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function appendCost(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "medfm-track-bench-"));
  const run = initRun({ root, mode: "offline" });
  const handle = run.field("train/loss");
  const chunk = 1000;
  const perAppend: number[] = [];
  let total = 0n;
  for (let round = 0; round < 500; round += 1) {
    const start = process.hrtime.bigint();
    for (let index = 0; index < chunk; index += 1) handle.append(index * 0.001);
    const elapsed = process.hrtime.bigint() - start;
    total += elapsed;
    perAppend.push(Number(elapsed) / chunk);
    // Let the background flush run, as it would during training.
    if (round % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }
  const viaProxy: number[] = [];
  for (let round = 0; round < 100; round += 1) {
    const start = process.hrtime.bigint();
    for (let index = 0; index < chunk; index += 1) run["train/acc"].append(index * 0.001);
    viaProxy.push(Number(process.hrtime.bigint() - start) / chunk);
  }
  await run.stop();
  rmSync(root, { recursive: true, force: true });
  console.log(
    `append(): median ${(median(perAppend) / 1000).toFixed(3)} µs (through a kept handle), ` +
      `${(median(viaProxy) / 1000).toFixed(3)} µs (through run["path"]), ` +
      `mean ${(Number(total) / (500 * chunk) / 1000).toFixed(3)} µs with journal writes; goal < 5 µs`,
  );
}

async function findServer(): Promise<string | undefined> {
  const file = join(repoRoot, ".cache/mlflow/uri");
  const uri =
    process.env.MEDFM_TEST_MLFLOW_URI ??
    (existsSync(file) ? readFileSync(file, "utf8").trim() : "");
  if (!uri) return undefined;
  try {
    return (await fetch(`${uri}/health`)).ok ? uri : undefined;
  } catch {
    return undefined;
  }
}

async function ours(uri: string): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), "medfm-track-bench-"));
  const run = initRun({ root, project: "medfm-track-bench-js", backend: mlflow({ uri }) });
  const handles = Array.from({ length: keys }, (_, index) => run.field(`train/metric${index}`));
  const start = performance.now();
  for (let index = 0; index < points; index += 1) handles[index % keys].append(1 / (index + 1));
  await run.stop();
  const seconds = (performance.now() - start) / 1000;
  rmSync(root, { recursive: true, force: true });
  return seconds;
}

function python(uri: string): number {
  const result = spawnSync(
    join(repoRoot, ".venv-mlflow/bin/python"),
    [
      fileURLToPath(new URL("./mlflow_log_batch.py", import.meta.url)),
      uri,
      String(points),
      String(keys),
    ],
    { encoding: "utf8" },
  );
  if (result.status !== 0) throw new Error(`python reference failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split("\n").at(-1) as string).seconds;
}

await appendCost();
const uri = await findServer();
if (!uri) {
  console.log("MLflow throughput skipped: no server (run scripts/mlflow/start.sh)");
} else {
  const js = await ours(uri);
  const py = python(uri);
  const rate = (seconds: number) => Math.round(points / seconds).toLocaleString("en-US");
  console.log(`${points.toLocaleString("en-US")} points to MLflow ${uri}:`);
  console.log(
    `  @medfm/track async (append → stop delivered): ${js.toFixed(2)} s, ${rate(js)} points/s`,
  );
  console.log(
    `  mlflow Python client log_batch:               ${py.toFixed(2)} s, ${rate(py)} points/s`,
  );
  console.log(`  ratio (ours / Python throughput): ${(py / js).toFixed(2)}x; goal ≥ 1x`);
}
