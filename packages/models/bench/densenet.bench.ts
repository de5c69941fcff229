// DenseNet-121 speed on the best tfjs backend here against torchvision's densenet121 in PyTorch
// (2 threads; Debian python3-torch and, when installed by scripts/bench/install-torch.sh, PyPI's
// torch in .venv-bench, each in NCHW and channels_last; the ratio is taken against the best of
// the four), measured in the same run: eval-mode forward images/s
// (batch 8 at 224) and training images/s (batch 4 at 224: BCE over 19 classes, SGD with
// momentum), with ratios and the peak resident memory of each process. Without --backend it
// measures the best backend here (see selectBackend: it finds the native one that `pnpm medfm
// backend install` provisions in ./.medfm/native, or MEDFM_TFJS_NODE_PATH) and, when that is not
// wasm, wasm too.
//
//   pnpm bench densenet [--size 224] [--quick] [--backend wasm|cpu|tensorflow] [--wasm-threads N]
//     [--forward-batch 8] [--train-batch 4] [--iterations 3] [--rounds 3] [--memory-efficient]
//     [--phase forward|train|both] [--profile] [--no-torch]
//
// Each measurement runs in its own process, so a wasm heap abort (training at 224 needs a lot
// of the 4 GiB wasm heap) is reported instead of ending the benchmark, and each peak RSS belongs
// to one measurement. --rounds N (default 3): N rounds of each side, alternating, each side's
// median round reported. --quick: 128 px, one timed iteration, one round. --profile: wall and
// CPU time of a
// training step's phases (forward, forward + backward, optimizer), on tensorflow the time of
// each native TensorFlow op, and per-kernel time of one step (tf.profile), the biggest first.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { densenet121, selectBackend, sgd } from "../src/index";
import {
  type BenchResult,
  type Measurement,
  medianRound,
  mib,
  rate,
  runBenchChild,
  timed,
} from "./bench-harness";

// `node scripts/bench.mjs densenet -- --flag` (and some pnpm versions) pass a literal `--`.
const argv = process.argv.slice(2).filter((arg) => arg !== "--");
const { values: args } = parseArgs({
  args: argv,
  options: {
    size: { type: "string" },
    quick: { type: "boolean", default: false },
    backend: { type: "string" },
    "wasm-threads": { type: "string" },
    "forward-batch": { type: "string", default: "8" },
    "train-batch": { type: "string", default: "4" },
    iterations: { type: "string" },
    rounds: { type: "string" },
    "memory-efficient": { type: "boolean", default: false },
    phase: { type: "string", default: "both" },
    profile: { type: "boolean", default: false },
    "no-torch": { type: "boolean", default: false },
    child: { type: "string" },
  },
});

const size = Number(args.size ?? (args.quick ? 128 : 224));
const iterations = Number(args.iterations ?? (args.quick ? 1 : 3));
const rounds = Number(args.rounds ?? (args.quick ? 1 : 3));
const forwardBatch = Number(args["forward-batch"]);
const trainBatch = Number(args["train-batch"]);
const classes = 19;
const root = fileURLToPath(new URL("../../..", import.meta.url));

interface ChildResult extends BenchResult {
  profile?: Array<{ kernel: string; ms: number; calls: number }>;
  /** Native TensorFlow op time of one training step, on the tensorflow backend (--profile). */
  nativeOps?: Array<{ op: string; ms: number; cpuMs: number; calls: number }>;
  /** Wall milliseconds of the step whose native ops were timed. */
  nativeStepMs?: number;
  /** Wall and process CPU seconds of one training step's phases (--profile). */
  phases?: Array<{ phase: string; seconds: number; cpuSeconds: number }>;
}

/** One measurement in this process; prints `RESULT {json}`. */
async function child(kind: "forward" | "train" | "profile"): Promise<void> {
  const selection = await selectBackend({
    backend: args.backend as "tensorflow" | "wasm" | "cpu" | undefined,
    ...(args["wasm-threads"] ? { experimental_wasmThreads: Number(args["wasm-threads"]) } : {}),
    log: () => {},
  });
  const backbone = densenet121({ memoryEfficient: args["memory-efficient"] });
  const threads = selection.threads === undefined ? "" : `, ${selection.threads} thread(s)`;
  const result: ChildResult = {
    backend: `${selection.backend} (${selection.source}${threads})`,
  };
  const batch = kind === "forward" ? forwardBatch : trainBatch;
  const images = tf.randomNormal([batch, size, size, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  if (kind === "forward") {
    result.forward = await timed(
      async () => {
        const features = backbone.forward(images, { training: false });
        await features.data();
        features.dispose();
      },
      iterations,
      batch,
    );
  } else {
    // Named (not tfjs's numbered default names, which object keys order first) and listed last,
    // so that the optimizer updates `bias` last; see `step`.
    const weights = tf.variable(
      tf.randomNormal([backbone.numFeatures, classes], 0, 0.01),
      true,
      "head/weight",
    );
    const bias = tf.variable(tf.zeros([classes]), true, "head/bias");
    const trainable = [...backbone.namedTrainableVariables().values(), weights, bias];
    const targets = tf.tidy(() =>
      tf.cast(tf.less(tf.randomUniform([batch, classes], 0, 1, "float32", 2), 0.2), "float32"),
    );
    // The library's own SGD, as the trainer uses it (on the native backend one fused TensorFlow
    // op per variable); no weight decay, like the PyTorch side.
    const optimizer = sgd({ momentum: 0.9 });
    const step = async () => {
      const { value: loss, grads } = tf.variableGrads(() => {
        const features = backbone.forward(images, { training: true });
        const logits = tf.add(tf.matMul(features, weights), bias);
        return tf.losses.sigmoidCrossEntropy(targets, logits) as tf.Scalar;
      }, trainable);
      optimizer.step(trainable, grads, 0.001);
      tf.dispose(grads);
      await loss.data();
      loss.dispose();
      // The loss is ready before the backward pass and the update have run: on the native
      // backend, ops run asynchronously (in order), so wait for the variable updated last.
      await bias.data();
    };
    if (kind === "train") {
      result.train = await timed(step, iterations, batch);
    } else {
      await step();
      // Wall and CPU time of each phase of a step: the loss alone (forward, no tape), the
      // gradients (forward with tape + backward), and the optimizer's update.
      const loss = () => {
        const features = backbone.forward(images, { training: true });
        const logits = tf.add(tf.matMul(features, weights), bias);
        return tf.losses.sigmoidCrossEntropy(targets, logits) as tf.Scalar;
      };
      const phase = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
        const cpu = process.cpuUsage();
        const start = performance.now();
        const value = await run();
        const used = process.cpuUsage(cpu);
        result.phases ??= [];
        result.phases.push({
          phase: name,
          seconds: (performance.now() - start) / 1000,
          cpuSeconds: (used.user + used.system) / 1e6,
        });
        return value;
      };
      await phase("forward (loss, no tape)", async () => {
        const value = loss();
        await value.data();
        value.dispose();
      });
      const gradients = await phase("forward + backward (variableGrads)", async () => {
        const { value, grads } = tf.variableGrads(loss);
        await Promise.all(Object.values(grads).map((g) => g.data()));
        value.dispose();
        return grads;
      });
      await phase("optimizer (sgd step)", async () => {
        optimizer.step(trainable, gradients, 0.001);
        await bias.data();
      });
      tf.dispose(gradients);
      if (selection.backend === "tensorflow") {
        // tf.profile sees kernels only, not the native ops that custom gradients (batch norm,
        // ReLU) run directly: time every TensorFlow op tfjs-node executes instead.
        const native = tf.backend() as unknown as Record<string, unknown>;
        const ops = new Map<string, { ms: number; cpuMs: number; calls: number }>();
        const originals = new Map<string, unknown>();
        for (const method of ["executeSingleOutput", "executeMultipleOutputs"]) {
          const original = native[method] as (name: string, ...rest: unknown[]) => unknown;
          originals.set(method, original);
          native[method] = (name: string, ...rest: unknown[]) => {
            const start = performance.now();
            const cpu = process.cpuUsage();
            const output = original.call(native, name, ...rest);
            const used = process.cpuUsage(cpu);
            const entry = ops.get(name) ?? { ms: 0, cpuMs: 0, calls: 0 };
            entry.ms += performance.now() - start;
            entry.cpuMs += (used.user + used.system) / 1000;
            entry.calls += 1;
            ops.set(name, entry);
            return output;
          };
        }
        const start = performance.now();
        await step();
        result.nativeStepMs = performance.now() - start;
        for (const [method, original] of originals) native[method] = original;
        result.nativeOps = [...ops.entries()]
          .map(([name, entry]) => ({ op: name, ...entry }))
          .sort((a, b) => b.ms - a.ms);
      }
      const info = await tf.profile(step);
      const byKernel = new Map<string, { ms: number; calls: number }>();
      for (const kernel of info.kernels) {
        const entry = byKernel.get(kernel.name) ?? { ms: 0, calls: 0 };
        entry.ms += Number(kernel.kernelTimeMs) || 0;
        entry.calls += 1;
        byKernel.set(kernel.name, entry);
      }
      result.profile = [...byKernel.entries()]
        .map(([name, entry]) => ({ kernel: name, ...entry }))
        .sort((a, b) => b.ms - a.ms);
    }
  }
  result.peakRssBytes = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

function runChild(kind: string, backend?: string): ChildResult {
  return runBenchChild<ChildResult>(
    fileURLToPath(import.meta.url),
    [
      ...argv.filter((arg) => arg !== "--profile"),
      ...(backend ? ["--backend", backend] : []),
      "--child",
      kind,
    ],
    root,
  );
}

/** One PyTorch configuration the bench compares with: an interpreter and a memory layout. */
interface TorchConfig {
  /** Shown in the output, e.g. `Debian torch NCHW`. */
  label: string;
  /** Where the torch comes from. */
  source: "Debian" | "PyPI";
  python: string;
  channelsLast: boolean;
}

/**
 * The PyTorch configurations measured: Debian's python3-torch and, when installed (see
 * scripts/bench/install-torch.sh, or MEDFM_BENCH_TORCH_PYTHON), PyPI's torch in `.venv-bench`,
 * each in NCHW and in channels_last. The ratio is taken against the best of them.
 */
function torchConfigs(): TorchConfig[] {
  const pythons: Array<{ source: TorchConfig["source"]; python: string }> = [];
  if (existsSync("/usr/bin/python3"))
    pythons.push({ source: "Debian", python: "/usr/bin/python3" });
  const venv = process.env.MEDFM_BENCH_TORCH_PYTHON ?? `${root}.venv-bench/bin/python`;
  if (existsSync(venv)) pythons.push({ source: "PyPI", python: venv });
  return pythons.flatMap(({ source, python }) => [
    { label: `${source} torch NCHW`, source, python, channelsLast: false },
    { label: `${source} torch channels_last`, source, python, channelsLast: true },
  ]);
}

function runTorch(
  phase: string,
  config: TorchConfig,
): ChildResult & { threads?: number; torch?: string } {
  const script = `${root}scripts/bench/models/densenet_torch.py`;
  const run = spawnSync(
    config.python,
    [
      script,
      `--size=${size}`,
      `--forward-batch=${forwardBatch}`,
      `--train-batch=${trainBatch}`,
      `--iterations=${iterations}`,
      "--threads=2",
      `--phase=${phase}`,
      ...(config.channelsLast ? ["--channels-last"] : []),
      ...(args["memory-efficient"] ? ["--memory-efficient"] : []),
    ],
    { encoding: "utf8", maxBuffer: 1 << 24 },
  );
  if (run.status !== 0)
    return { error: `${config.python}: ${run.stderr.trim().split("\n").slice(-1)[0]}` };
  return JSON.parse(run.stdout.trim().split("\n").at(-1) as string);
}

async function main(): Promise<void> {
  if (args.child !== undefined) {
    await child(args.child as "forward" | "train" | "profile");
    return;
  }
  const load = () =>
    loadavg()
      .map((value) => value.toFixed(1))
      .join(" ");
  console.log(
    `DenseNet-121 at ${size} px: forward batch ${forwardBatch}, training batch ${trainBatch}, ` +
      `${iterations} timed iteration(s) after 1 warm-up; load average ${load()}`,
  );
  const phases = args.phase === "both" ? ["forward", "train"] : [args.phase as string];
  // Without --backend: the best backend here, and wasm beside it when the best is native.
  const backends: Array<string | undefined> = args.backend ? [args.backend] : [undefined, "wasm"];
  const configs = args["no-torch"] ? [] : torchConfigs();
  if (!args["no-torch"] && configs.length === 0)
    console.log("no PyTorch found (/usr/bin/python3 with python3-torch, or .venv-bench)");
  if (!args["no-torch"] && !configs.some((config) => config.source === "PyPI"))
    console.log(
      "PyPI torch not installed: run `bash scripts/bench/install-torch.sh` to compare with it too",
    );
  // torch[phase][label]: each PyTorch configuration is measured once per phase, in rounds
  // alternating with ours.
  const torch: Record<string, Record<string, ChildResult>> = {};
  let best: string | undefined;
  for (const backend of backends) {
    if (backend === "wasm" && best?.startsWith("wasm")) break; // the best was wasm: measured
    for (const phase of phases) {
      // Rounds alternate the sides, so that a slow spell of a shared machine does not fall
      // on one side only; each side's median round is reported.
      const pick = (result?: ChildResult) =>
        (phase === "forward" ? result?.forward : result?.train) as Measurement | undefined;
      const mineRounds: ChildResult[] = [];
      const measureTorch = torch[phase] === undefined;
      const torchRounds = new Map<string, ChildResult[]>(configs.map((c) => [c.label, []]));
      for (let round = 0; round < rounds; round += 1) {
        mineRounds.push(runChild(phase, backend));
        if (measureTorch)
          for (const config of configs)
            torchRounds.get(config.label)?.push(runTorch(phase, config));
      }
      if (measureTorch)
        torch[phase] = Object.fromEntries(
          [...torchRounds].map(([label, results]) => [label, medianRound(results, pick)]),
        );
      const mine = medianRound(mineRounds, pick);
      best ??= mine.backend;
      const measurement = pick(mine);
      console.log(
        `${phase.padEnd(7)} tfjs ${mine.backend ?? backend ?? "?"}: ${mine.error ?? rate(measurement)} (peak RSS ${mib(mine.peakRssBytes)})`,
      );
      let bestLabel: string | undefined;
      let bestReference: Measurement | undefined;
      for (const [label, reference] of Object.entries(torch[phase] ?? {})) {
        const referenceMeasurement = pick(reference);
        const ratio =
          measurement && referenceMeasurement
            ? `${(measurement.imagesPerSecond / referenceMeasurement.imagesPerSecond).toFixed(2)}x`
            : "-";
        console.log(
          `        ${label.padEnd(26)} ${reference.error ?? rate(referenceMeasurement)} (peak RSS ${mib(reference.peakRssBytes)}) | ours ${ratio}`,
        );
        if (
          referenceMeasurement &&
          (bestReference === undefined ||
            referenceMeasurement.imagesPerSecond > bestReference.imagesPerSecond)
        ) {
          bestReference = referenceMeasurement;
          bestLabel = label;
        }
      }
      if (measurement && bestReference) {
        console.log(
          `        ratio to the best PyTorch (${bestLabel}): ${(measurement.imagesPerSecond / bestReference.imagesPerSecond).toFixed(2)}x` +
            ` (per CPU-second ${(bestReference.cpuSecondsPerBatch / measurement.cpuSecondsPerBatch).toFixed(2)}x)`,
        );
      }
      if (rounds > 1) {
        const each = (results: ChildResult[]) =>
          results.map((result) => pick(result)?.imagesPerSecond.toFixed(2) ?? "-").join(", ");
        console.log(
          `        rounds (img/s): tfjs [${each(mineRounds)}]` +
            [...torchRounds]
              .filter(([, results]) => results.length > 0)
              .map(([label, results]) => `, ${label} [${each(results)}]`)
              .join(""),
        );
      }
    }
  }
  if (args.profile) {
    const profile = runChild("profile", args.backend);
    if (profile.error) console.log(`profile: ${profile.error}`);
    for (const entry of profile.phases ?? []) {
      console.log(
        `  ${entry.phase.padEnd(36)} ${entry.seconds.toFixed(3).padStart(7)} s wall, ${entry.cpuSeconds.toFixed(3).padStart(7)} CPU-s (${(entry.cpuSeconds / entry.seconds).toFixed(2)} cores)`,
      );
    }
    if (profile.nativeOps !== undefined && profile.nativeStepMs !== undefined) {
      const nativeTotal = profile.nativeOps.reduce((sum, entry) => sum + entry.ms, 0);
      console.log(
        `native TensorFlow ops of one training step: ${(nativeTotal / 1000).toFixed(3)} s of ` +
          `${(profile.nativeStepMs / 1000).toFixed(3)} s wall (the rest is JavaScript)` +
          (process.env.MEDFM_TF_ASYNC === "0"
            ? ""
            : "; ops run asynchronously, so this is the time to queue them, not kernel time" +
              " (MEDFM_TF_ASYNC=0 times the kernels)"),
      );
      for (const entry of profile.nativeOps.slice(0, 16)) {
        console.log(
          `  ${entry.op.padEnd(28)} ${(entry.ms / 1000).toFixed(3).padStart(7)} s  ${((100 * entry.ms) / profile.nativeStepMs).toFixed(1).padStart(5)}%  ${(entry.cpuMs / Math.max(entry.ms, 1e-9)).toFixed(2)} cores  ${entry.calls} calls`,
        );
      }
    }
    const total = (profile.profile ?? []).reduce((sum, entry) => sum + entry.ms, 0);
    console.log(
      `kernel time of one training step (batch ${trainBatch}): ${(total / 1000).toFixed(2)} s`,
    );
    for (const entry of (profile.profile ?? []).slice(0, 15)) {
      console.log(
        `  ${entry.kernel.padEnd(24)} ${(entry.ms / 1000).toFixed(3).padStart(7)} s  ${((100 * entry.ms) / total).toFixed(1).padStart(5)}%  ${entry.calls} calls`,
      );
    }
  }
  console.log(`load average after: ${load()}`);
}

await main();
