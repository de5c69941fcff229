import { type Batch, createRandom, defineTask } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { densenet } from "../backbones/densenet/densenet";
import { selectBackend } from "../backend/select-backend";
import { createClassifier } from "../classifier";
import { linearHead } from "../heads/linear-head";
import { provisionedNativePackage } from "../native/provisioned-native-backend";
import { adamw, sgd } from "./optimizers";
import { cosineSchedule } from "./schedules";
import { type BatchSource, createTrainer, NonFiniteLossError } from "./trainer";

const size = 16;
const task = defineTask({
  name: "bright-dark",
  classes: ["bright-left", "bright-right"],
  kind: "multi-label",
});

/**
 * Images whose labels are visible: class 0 = a bright left half, class 1 = a bright right
 * half, independently, on noise. A small DenseNet must learn both.
 */
function makeBatches(count: number, batchSize: number, seed: number): Batch[] {
  const random = createRandom(seed);
  const batches: Batch[] = [];
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const images = new Float32Array(n * size * size * 3);
    const labels = new Float32Array(n * 2);
    const names: string[] = [];
    for (let i = 0; i < n; i += 1) {
      const left = random.next() < 0.5 ? 1 : 0;
      const right = random.next() < 0.5 ? 1 : 0;
      labels[i * 2] = left;
      labels[i * 2 + 1] = right;
      names.push(`image_${start + i}.png`);
      for (let y = 0; y < size; y += 1) {
        for (let x = 0; x < size; x += 1) {
          const bright = x < size / 2 ? left : right;
          const value = (bright ? 1.5 : -0.5) + random.normal() * 0.5;
          for (let c = 0; c < 3; c += 1) images[((i * size + y) * size + x) * 3 + c] = value;
        }
      }
    }
    batches.push({ images, shape: [n, size, size, 3], labels, names });
  }
  return batches;
}

function source(batches: Batch[]): BatchSource {
  return {
    length: batches.length,
    async *epoch() {
      yield* batches;
    },
  };
}

function tinyModel(seed = 3) {
  return createClassifier({
    backbone: densenet({ growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8, bnSize: 2, seed }),
    head: linearHead({ numClasses: 2, kind: "multi-label", seed }),
  });
}

// wasm is what trains here without native code; the native backend joins when provisioned (CI).
const nativePackage = provisionedNativePackage();
const learningBackends = (nativePackage ? ["wasm", "tensorflow"] : ["wasm"]) as Array<
  "wasm" | "tensorflow"
>;
const backendEnv = {
  ...process.env,
  ...(nativePackage ? { MEDFM_TFJS_NODE_PATH: nativePackage } : {}),
};

describe("createTrainer learns", () => {
  it.each(learningBackends)(
    "learns visible labels on %s: validation mAP ends well above chance, events in order",
    async (backend) => {
      await selectBackend({ backend, env: backendEnv, log: () => {} });
      const model = tinyModel();
      const train = source(makeBatches(64, 16, 1));
      const validation = source(makeBatches(48, 16, 2));
      const epochs = 6;
      const trainer = createTrainer({
        model,
        task,
        optimizer: adamw({ weightDecay: 1e-4 }),
        schedule: cosineSchedule({ baseLr: 0.01, totalSteps: epochs * train.length! }),
      });
      const events: string[] = [];
      trainer.on("batchEnd", (event) => events.push(`b${event.epoch}.${event.batch}`));
      trainer.on("evaluate", (event) => events.push(`v${event.epoch}`));
      trainer.on("epochEnd", (event) => events.push(`e${event.epoch}`));
      const history = await trainer.fit({ train, validation, epochs });
      expect(events.slice(0, 6)).toEqual(["b0.0", "b0.1", "b0.2", "b0.3", "v0", "e0"]);
      expect(trainer.step).toBe(epochs * 4);
      const first = history.epochs[0];
      const last = history.epochs.at(-1)!;
      expect(last.loss).toBeLessThan(first.loss);
      expect(last.evaluation!.mainMetric).toBe("mAP");
      expect(last.evaluation!.count).toBe(48);
      expect(last.evaluation!.chance).toBeGreaterThan(0.3);
      expect(last.evaluation!.metrics.mAP).toBeGreaterThan(last.evaluation!.chance + 0.3);
      expect(last.evaluation!.metrics.AUC).toBeGreaterThan(0.85);
      model.dispose();
    },
  );
});

describe("createTrainer on the wasm backend", () => {
  beforeAll(async () => {
    // wasm trains only with the gradient kernels @medfm/models registers for it.
    await selectBackend({ backend: "wasm", log: () => {} });
  });

  it("keeps the tensor count flat across epochs", async () => {
    const model = tinyModel();
    const optimizer = sgd({ momentum: 0.9, weightDecay: 1e-4 });
    const trainer = createTrainer({ model, task, optimizer });
    const train = source(makeBatches(16, 8, 5));
    await trainer.fit({ train, validation: train, epochs: 1 });
    const after1 = tf.memory().numTensors;
    await trainer.fit({ train, validation: train, epochs: 3, initialEpoch: 1 });
    expect(tf.memory().numTensors).toBe(after1);
    optimizer.dispose();
    model.dispose();
  });

  it("stops on a non-finite loss with an error naming the step and the samples", async () => {
    const model = tinyModel();
    const batches = makeBatches(16, 8, 6);
    // A corrupt label (wasm's relu maps NaN pixels to 0, so corrupt the target instead).
    batches[1].labels[3] = Number.NaN;
    const trainer = createTrainer({ model, task, optimizer: sgd() });
    const failure = await trainer
      .fit({ train: source(batches), epochs: 1 })
      .catch((error) => error);
    expect(NonFiniteLossError.isInstance(failure)).toBe(true);
    expect(failure.message).toMatch(/Loss is NaN at epoch 0, batch 1 \(global step 1\)/);
    expect(failure.message).toContain("image_8.png");
    model.dispose();
  });

  it("scores a multi-class task with accuracy and the positive-class AUC", async () => {
    const binary = defineTask({
      name: "left",
      classes: ["dark-left", "bright-left"],
      kind: "multi-class",
    });
    const batches = makeBatches(32, 16, 9).map((batch) => {
      const labels = new Float32Array(batch.labels.length);
      for (let i = 0; i < batch.names.length; i += 1) labels[i * 2 + batch.labels[i * 2]] = 1;
      return { ...batch, labels };
    });
    const model = createClassifier({
      backbone: densenet({
        growthRate: 4,
        blockConfig: [2],
        numInitFeatures: 8,
        bnSize: 2,
        seed: 2,
      }),
      head: linearHead({ numClasses: 2, kind: "multi-class", seed: 2 }),
    });
    const trainer = createTrainer({
      model,
      task: binary,
      optimizer: adamw(),
      schedule: () => 0.01,
    });
    const history = await trainer.fit({
      train: source(batches),
      validation: source(batches),
      epochs: 10,
    });
    const evaluation = history.epochs.at(-1)!.evaluation!;
    expect(evaluation.mainMetric).toBe("accuracy");
    expect(evaluation.metrics.accuracy).toBeGreaterThan(0.8);
    expect(evaluation.metrics.AUC).toBeGreaterThan(0.85);
    model.dispose();
  });
});
