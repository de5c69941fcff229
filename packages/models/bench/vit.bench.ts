// ViT-S/16 and ViT-B/16 speed on the best tfjs backend here against timm's VisionTransformer in
// PyTorch (2 threads), measured in the same run: eval-mode forward images/s (batch 8 at 224) and
// visual prompt tuning training images/s (batch 8 at 224: backbone frozen, 10 prompt tokens after
// the CLS token, or at every block with --deep, a linear head, BCE over 19 classes, SGD with
// momentum on the prompts and the head). The PyTorch side is every timm found: the venv of
// scripts/fixtures/models/install-timm.sh (.venv-timm, over Debian's torch 1.13) and PyPI's torch
// in .venv-bench (scripts/bench/install-torch.sh installs timm there too; or
// MEDFM_BENCH_TORCH_PYTHON); the ratio is taken against the best of them.
//
//   pnpm bench vit [--models small,base] [--size 224] [--quick] [--backend wasm|cpu|tensorflow]
//     [--forward-batch 8] [--train-batch 8] [--prompts 10] [--deep] [--iterations 3]
//     [--rounds 3] [--phase forward|train|both] [--no-torch]
//
// Each measurement runs in its own process, so each peak RSS belongs to one measurement.
// --rounds N (default 3): N rounds of each side, alternating, each side's median round
// reported. --quick: 112 px, one timed iteration, one round.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { selectBackend, sgd, vit } from "../src/index";
import {
  type BenchResult,
  type Measurement,
  medianRound,
  mib,
  rate,
  runBenchChild,
  timed,
} from "./bench-harness";

// `node scripts/bench.mjs vit -- --flag` (and some pnpm versions) pass a literal `--`.
const argv = process.argv.slice(2).filter((arg) => arg !== "--");
const { values: args } = parseArgs({
  args: argv,
  options: {
    models: { type: "string", default: "small,base" },
    size: { type: "string" },
    quick: { type: "boolean", default: false },
    backend: { type: "string" },
    "forward-batch": { type: "string", default: "8" },
    "train-batch": { type: "string", default: "8" },
    prompts: { type: "string", default: "10" },
    deep: { type: "boolean", default: false },
    iterations: { type: "string" },
    rounds: { type: "string" },
    phase: { type: "string", default: "both" },
    "no-torch": { type: "boolean", default: false },
    child: { type: "string" },
    model: { type: "string" },
  },
});

const size = Number(args.size ?? (args.quick ? 112 : 224));
const iterations = Number(args.iterations ?? (args.quick ? 1 : 3));
const rounds = Number(args.rounds ?? (args.quick ? 1 : 3));
const forwardBatch = Number(args["forward-batch"]);
const trainBatch = Number(args["train-batch"]);
const prompts = Number(args.prompts);
const classes = 19;
const root = fileURLToPath(new URL("../../..", import.meta.url));

/** timm's ViT sizes at patch 16 (vit_{size}_patch16_224). */
const SIZES: Record<string, { embedDim: number; depth: number; numHeads: number }> = {
  tiny: { embedDim: 192, depth: 12, numHeads: 3 },
  small: { embedDim: 384, depth: 12, numHeads: 6 },
  base: { embedDim: 768, depth: 12, numHeads: 12 },
  large: { embedDim: 1024, depth: 24, numHeads: 16 },
};

/** One measurement in this process; prints `RESULT {json}`. */
async function child(kind: "forward" | "train", model: string): Promise<void> {
  const selection = await selectBackend({
    backend: args.backend as "tensorflow" | "wasm" | "cpu" | undefined,
    log: () => {},
  });
  const threads = selection.threads === undefined ? "" : `, ${selection.threads} thread(s)`;
  const result: BenchResult = { backend: `${selection.backend} (${selection.source}${threads})` };
  const batch = kind === "forward" ? forwardBatch : trainBatch;
  const backbone = vit({
    ...SIZES[model],
    imgSize: size,
    patchSize: 16,
    ...(kind === "train" ? { promptTokens: prompts, deepPrompts: args.deep } : {}),
  });
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
    // VPT: every stage frozen, so only the prompts (and the head) train.
    backbone.freezeStages(0);
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
    const optimizer = sgd({ momentum: 0.9 });
    result.train = await timed(
      async () => {
        const { value: loss, grads } = tf.variableGrads(() => {
          // Eval mode, as the PyTorch side runs its frozen backbone (no drop path).
          const features = backbone.forward(images, { training: false });
          const logits = tf.add(tf.matMul(features, weights), bias);
          return tf.losses.sigmoidCrossEntropy(targets, logits) as tf.Scalar;
        }, trainable);
        optimizer.step(trainable, grads, 0.001);
        tf.dispose(grads);
        await loss.data();
        loss.dispose();
        await bias.data(); // native ops run asynchronously: wait for the last update
      },
      iterations,
      batch,
    );
  }
  result.peakRssBytes = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

function runChild(kind: string, model: string, backend?: string): BenchResult {
  return runBenchChild(
    fileURLToPath(import.meta.url),
    [...argv, ...(backend ? ["--backend", backend] : []), "--child", kind, "--model", model],
    root,
  );
}

/** One timm found here: an interpreter and where its torch comes from. */
interface TimmConfig {
  label: string;
  python: string;
}

/** The timm installations measured; the ratio is taken against the best of them. */
function timmConfigs(): TimmConfig[] {
  const configs: TimmConfig[] = [];
  const debian = process.env.MEDFM_TIMM_PYTHON ?? `${root}.venv-timm/bin/python`;
  if (existsSync(debian)) configs.push({ label: "timm on Debian torch", python: debian });
  const pypi = process.env.MEDFM_BENCH_TORCH_PYTHON ?? `${root}.venv-bench/bin/python`;
  if (existsSync(pypi)) configs.push({ label: "timm on PyPI torch", python: pypi });
  return configs;
}

function runTimm(phase: string, model: string, config: TimmConfig): BenchResult {
  const run = spawnSync(
    config.python,
    [
      `${root}scripts/bench/models/vit_torch.py`,
      `--model=vit_${model}_patch16_224`,
      `--size=${size}`,
      `--forward-batch=${forwardBatch}`,
      `--train-batch=${trainBatch}`,
      `--iterations=${iterations}`,
      `--prompts=${prompts}`,
      "--threads=2",
      `--phase=${phase}`,
      ...(args.deep ? ["--deep"] : []),
    ],
    { encoding: "utf8", maxBuffer: 1 << 24 },
  );
  if (run.status !== 0)
    return { error: `${config.python}: ${run.stderr.trim().split("\n").slice(-1)[0]}` };
  const reported = JSON.parse(run.stdout.trim().split("\n").at(-1) as string);
  return { ...reported, backend: `torch ${reported.torch}, timm ${reported.timm}` };
}

async function main(): Promise<void> {
  if (args.child !== undefined) {
    await child(args.child as "forward" | "train", args.model as string);
    return;
  }
  const models = (args.models as string).split(",").map((name) => name.trim());
  for (const model of models) {
    if (SIZES[model] === undefined)
      throw new Error(
        `--models: unknown ViT size ${JSON.stringify(model)}; known: ${Object.keys(SIZES).join(", ")}`,
      );
  }
  const load = () =>
    loadavg()
      .map((value) => value.toFixed(1))
      .join(" ");
  console.log(
    `ViT at ${size} px (patch 16): forward batch ${forwardBatch}, VPT-${args.deep ? "deep" : "shallow"} ` +
      `training batch ${trainBatch} with ${prompts} prompts; ${iterations} timed iteration(s) after ` +
      `1 warm-up; load average ${load()}`,
  );
  const configs = args["no-torch"] ? [] : timmConfigs();
  if (!args["no-torch"] && configs.length === 0)
    console.log(
      "no timm found: run `bash scripts/fixtures/models/install-timm.sh` (Debian torch) or " +
        "`bash scripts/bench/install-torch.sh` (PyPI torch) to compare with it",
    );
  const phases = args.phase === "both" ? ["forward", "train"] : [args.phase as string];
  for (const model of models) {
    for (const phase of phases) {
      const pick = (result?: BenchResult) =>
        (phase === "forward" ? result?.forward : result?.train) as Measurement | undefined;
      const mineRounds: BenchResult[] = [];
      const timmRounds = new Map<string, BenchResult[]>(configs.map((c) => [c.label, []]));
      // Rounds alternate the sides, so that a slow spell of a shared machine does not fall
      // on one side only; each side's median round is reported.
      for (let round = 0; round < rounds; round += 1) {
        mineRounds.push(runChild(phase, model, args.backend));
        for (const config of configs)
          timmRounds.get(config.label)?.push(runTimm(phase, model, config));
      }
      const mine = medianRound(mineRounds, pick);
      const measurement = pick(mine);
      const title = `ViT-${model} ${phase === "forward" ? "forward" : "VPT train"}`;
      console.log(
        `${title.padEnd(22)} tfjs ${mine.backend ?? "?"}: ${mine.error ?? rate(measurement)} (peak RSS ${mib(mine.peakRssBytes)})`,
      );
      let best: { label: string; measurement: Measurement } | undefined;
      for (const [label, results] of timmRounds) {
        const reference = medianRound(results, pick);
        const referenceMeasurement = pick(reference);
        const ratio =
          measurement && referenceMeasurement
            ? `${(measurement.imagesPerSecond / referenceMeasurement.imagesPerSecond).toFixed(2)}x`
            : "-";
        console.log(
          `${"".padEnd(22)} ${label} (${reference.backend ?? "?"}): ${reference.error ?? rate(referenceMeasurement)} (peak RSS ${mib(reference.peakRssBytes)}) | ours ${ratio}`,
        );
        if (
          referenceMeasurement &&
          (best === undefined ||
            referenceMeasurement.imagesPerSecond > best.measurement.imagesPerSecond)
        )
          best = { label, measurement: referenceMeasurement };
      }
      if (measurement && best) {
        console.log(
          `${"".padEnd(22)} ratio to the best PyTorch (${best.label}): ` +
            `${(measurement.imagesPerSecond / best.measurement.imagesPerSecond).toFixed(2)}x` +
            ` (per CPU-second ${(best.measurement.cpuSecondsPerBatch / measurement.cpuSecondsPerBatch).toFixed(2)}x)`,
        );
      }
    }
  }
  console.log(`load average after: ${load()}`);
}

await main();
