// The torchvision parity checks of packages/models/src/weights/torchvision-parity.test.ts, as a
// standalone program for a GPU machine that has no pnpm install: a small DenseNet's eval logits,
// a training step (logits, every gradient, the running statistics) and densenet121's eval
// logits, each within 1e-4 of torchvision, on the `tensorflow` backend built by
// `medfm backend install --gpu`. It also reports where TensorFlow placed the ops and times
// densenet121 at 224 px. Bundled with esbuild (scripts/native-backend/bundle-gpu-parity.sh), so
// only Node.js, the bundle, the binding and the TensorFlow/CUDA libraries need to be there.
//
//   node gpu-parity.cjs --fixtures DIR --densenet121 DIR [--timing] [--require-gpu]
//
// DIR holds densenet-small.{weights,io}.safetensors (committed) and densenet121.*.safetensors
// (scripts/fixtures/models/make-densenet-fixture.py full DIR). Set NVIDIA_TF32_OVERRIDE=0: on
// Ampere and later GPUs TensorFlow otherwise runs float32 convolutions and products in TF32,
// which is about 1e-3 from float32. Exit status 1 when a check fails.
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { densenet121 } from "../../packages/models/src/backbones/densenet";
import { selectBackend } from "../../packages/models/src/backend/select-backend";
import { createClassifierFromTorch } from "../../packages/models/src/weights/load-torch-weights";
import {
  readSafetensors,
  type SafetensorsFile,
  type SafetensorsTensor,
} from "../../packages/models/src/weights/safetensors";
import { torchTensorToNative } from "../../packages/models/src/weights/torchvision-densenet-keys";

const TOLERANCE = 1e-4;
const { values: args } = parseArgs({
  options: {
    fixtures: { type: "string" },
    densenet121: { type: "string" },
    timing: { type: "boolean", default: false },
    "require-gpu": { type: "boolean", default: false },
  },
});
if (!args.fixtures || !args.densenet121) {
  console.error("usage: gpu-parity --fixtures DIR --densenet121 DIR [--timing] [--require-gpu]");
  process.exit(2);
}

let failures = 0;
function check(what: string, error: number): void {
  const ok = error < TOLERANCE;
  if (!ok) failures += 1;
  console.log(`${ok ? "PASS" : "FAIL"} ${what}: max error ${error.toExponential(2)}`);
}

function tensorOf(file: SafetensorsFile, key: string): tf.Tensor {
  const tensor = file.tensors.get(key);
  if (tensor === undefined) throw new Error(`fixture lacks ${key}`);
  return tf.tensor(tensor.values, tensor.shape);
}

function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Images per second at 224 px: eval forward (batch 64) and a training step (batch 32, momentum SGD). */
function timeDenseNet121(): void {
  const model = densenet121({ seed: 1 });
  const batch = tf.randomUniform([32, 224, 224, 3]) as tf.Tensor4D;
  const optimizer = tf.train.momentum(0.01, 0.9);
  const step = () =>
    tf.tidy(() => {
      optimizer.minimize(() => tf.mean(tf.square(model.forward(batch, { training: true }))));
    });
  for (let warm = 0; warm < 3; warm += 1) step();
  tf.tidy(() => model.forward(batch, { training: false }).dataSync());
  let start = performance.now();
  for (let timed = 0; timed < 10; timed += 1) step();
  tf.tidy(() => model.forward(batch, { training: false }).dataSync());
  const trainRate = (10 * 32) / ((performance.now() - start) / 1000);
  const big = tf.randomUniform([64, 224, 224, 3]) as tf.Tensor4D;
  tf.tidy(() => model.forward(big, { training: false }).dataSync());
  start = performance.now();
  for (let timed = 0; timed < 10; timed += 1)
    tf.tidy(() => model.forward(big, { training: false }).dataSync());
  const forwardRate = (10 * 64) / ((performance.now() - start) / 1000);
  console.log(
    `densenet121 features at 224 px: forward ${forwardRate.toFixed(0)} img/s (batch 64), ` +
      `training ${trainRate.toFixed(0)} img/s (batch 32)`,
  );
}

async function main(): Promise<void> {
  const selection = await selectBackend({
    backend: "tensorflow",
    env: { MEDFM_TFJS_NODE_PATH: "bundled @tensorflow/tfjs-node-gpu" },
    // The bundle carries tfjs-node-gpu's JavaScript; its binding comes from MEDFM_TFJS_BINDING.
    importPackage: async () => import("@tensorflow/tfjs-node-gpu"),
    log: () => {},
  });
  const native = tf.backend() as unknown as {
    binding: { TF_Version: string };
    isUsingGpuDevice: boolean;
  };
  console.log(
    `backend ${selection.backend}, TensorFlow ${native.binding.TF_Version}, ` +
      `GPU device: ${native.isUsingGpuDevice}`,
  );
  if (args["require-gpu"] && !native.isUsingGpuDevice) {
    failures += 1;
    console.log("FAIL TensorFlow found no GPU (--require-gpu): its log above says why");
  }

  const fixtures = args.fixtures as string;
  const weights = await readSafetensors(`${fixtures}/densenet-small.weights.safetensors`);
  const io = await readSafetensors(`${fixtures}/densenet-small.io.safetensors`);

  const small = createClassifierFromTorch(weights);
  const input = tensorOf(io, "input") as tf.Tensor4D;
  const logits = small.predict(input);
  check("small DenseNet eval logits", maxAbsDifference(logits, tensorOf(io, "logits_eval")));
  small.dispose();

  for (const memoryEfficient of [false, true]) {
    const model = createClassifierFromTorch(weights, { memoryEfficient });
    const trainInput = tensorOf(io, "train_input") as tf.Tensor4D;
    const lossWeights = tensorOf(io, "loss_weights");
    let trainLogits: tf.Tensor | undefined;
    const named = model.namedTrainableVariables();
    const { grads } = tf.variableGrads(() => {
      const output = model.forward(trainInput, { training: true });
      trainLogits = tf.keep(output.clone());
      return tf.sum(tf.mul(output, lossWeights)) as tf.Scalar;
    }, [...named.values()]);
    const label = `small DenseNet training step${memoryEfficient ? " (memory-efficient)" : ""}`;
    check(
      `${label}: logits`,
      maxAbsDifference(trainLogits as tf.Tensor, tensorOf(io, "logits_train")),
    );
    let worstGradient = 0;
    for (const [key, variable] of named) {
      const expected = torchTensorToNative(key, io.tensors.get(`grad.${key}`) as SafetensorsTensor);
      const scale = Math.max(
        1,
        tf.tidy(() => tf.max(tf.abs(expected)).dataSync()[0]),
      );
      worstGradient = Math.max(
        worstGradient,
        maxAbsDifference(grads[variable.name], expected) / scale,
      );
    }
    check(`${label}: ${named.size} gradients (relative to scale)`, worstGradient);
    const state = model.stateDict();
    let worstRunning = 0;
    for (const [key, tensor] of io.tensors) {
      if (!key.startsWith("after_train.") || key.endsWith("num_batches_tracked")) continue;
      const stored = state.get(key.slice("after_train.".length)) as tf.Tensor;
      worstRunning = Math.max(
        worstRunning,
        maxAbsDifference(stored, tf.tensor(tensor.values, tensor.shape)),
      );
    }
    check(`${label}: running statistics`, worstRunning);
    model.dispose();
  }

  const fullWeights = await readSafetensors(`${args.densenet121}/densenet121.weights.safetensors`);
  const fullIo = await readSafetensors(`${args.densenet121}/densenet121.io.safetensors`);
  const full = createClassifierFromTorch(fullWeights);
  check(
    "densenet121 eval logits (64x64, 1000 classes)",
    maxAbsDifference(
      full.predict(tensorOf(fullIo, "input") as tf.Tensor4D),
      tensorOf(fullIo, "logits_eval"),
    ),
  );
  full.dispose();

  if (args.timing) {
    try {
      timeDenseNet121();
    } catch (error) {
      console.log(`timing failed: ${String(error)}`);
    }
  }

  const smi = spawnSync(
    "nvidia-smi",
    ["--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader"],
    { encoding: "utf8" },
  );
  console.log(`nvidia-smi compute apps: ${(smi.stdout ?? smi.error?.message ?? "").trim()}`);
  console.log(failures === 0 ? "all parity checks passed" : `${failures} parity check(s) failed`);
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
