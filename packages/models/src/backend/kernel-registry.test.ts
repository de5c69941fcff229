import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it, vi } from "vitest";
import { densenet } from "../backbones/densenet/densenet";
import { sgd } from "../train/optimizers";
import { recordNativeOps } from "./__fixtures__/native-op-recorder";
import { backends, env } from "./__fixtures__/test-backends";
import {
  MedfmBatchNormReluGradAdd,
  MedfmBatchNormTraining,
  MedfmBatchNormTrainingGrad,
  MedfmSgdMomentumUpdate,
} from "./kernel-names";
import { selectBackend } from "./select-backend";

/** The kernels one DenseNet training step with momentum SGD must reach, on every backend. */
const trainingKernels = [
  MedfmBatchNormTraining,
  MedfmBatchNormTrainingGrad,
  MedfmBatchNormReluGradAdd,
  MedfmSgdMomentumUpdate,
];

/**
 * One training step of a small DenseNet (forward in training mode, gradients of every variable,
 * an SGD step with momentum and weight decay) on the active backend. Returns the @medfm kernels
 * run through the engine, in order of first use, and the TensorFlow ops run when native.
 */
function trainingStep(): { kernels: string[]; nativeOps: string[] } {
  const backbone = densenet({ growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8, bnSize: 2 });
  const random = createRandom("kernel-registry");
  const images = tf.tensor4d(
    Float32Array.from({ length: 2 * 32 * 32 * 3 }, () => random.normal()),
    [2, 32, 32, 3],
  );
  const optimizer = sgd({ momentum: 0.9, weightDecay: 1e-4 });
  const engine = tf.engine();
  const runKernel = vi.spyOn(engine, "runKernel");
  const native = recordNativeOps();
  try {
    const variables = [...backbone.namedTrainableVariables().values()];
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.square(backbone.forward(images, { training: true }))) as tf.Scalar,
      variables,
    );
    optimizer.step(variables, grads, 0.01);
    tf.dispose(Object.values(grads));
    const kernels = [
      ...new Set(
        runKernel.mock.calls
          .map((call) => String(call[0]))
          .filter((name) => name.startsWith("Medfm")),
      ),
    ];
    const nativeOps = native.names();
    return { kernels, nativeOps };
  } finally {
    runKernel.mockRestore();
    native.restore();
    images.dispose();
    optimizer.dispose();
    backbone.dispose();
  }
}

describe("one path to every backend", () => {
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  for (const backend of backends) {
    it(`runs a DenseNet training step through the same registered kernels on ${backend}`, async () => {
      const selection = await selectBackend({ backend, env, log: () => {} });
      expect(selection.backend).toBe(backend);
      for (const name of trainingKernels) expect(tf.getKernel(name, backend)).toBeDefined();
      const { kernels, nativeOps } = trainingStep();
      expect([...kernels].sort()).toEqual([...trainingKernels].sort());
      if (backend === "tensorflow") {
        // The same kernels, fast: @medfm/models' own TensorFlow ops did the fused work.
        expect(nativeOps).toContain("MedfmBatchNormReluGradAdd");
        expect(nativeOps).toContain("MedfmApplyMomentum");
      } else {
        expect(nativeOps).toEqual([]);
      }
    });
  }
});

describe("model code", () => {
  const sourceRoot = fileURLToPath(new URL("..", import.meta.url));
  const files = (directory: string): string[] =>
    readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) return files(path);
      return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") ? [path] : [];
    });

  it("never reaches a backend directly: no native-ops, backend tables or tfjs-node imports", () => {
    const modelFiles = ["backbones", "train"].flatMap((folder) => files(join(sourceRoot, folder)));
    expect(modelFiles.length).toBeGreaterThan(5);
    const forbidden = [
      /from\s+["'][^"']*\/native-ops["']/,
      /from\s+["'][^"']*backend\/(tensorflow|portable)\/[^"']*["']/,
      /from\s+["']@tensorflow\/tfjs-node(-gpu)?["']/,
      /\bactiveNativeBackend\b|\bhasMedfmKernels\b|\bgetBackend\(/,
    ];
    const offences = modelFiles.flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .flatMap((line, index) =>
          forbidden.some((pattern) => pattern.test(line))
            ? [`${relative(sourceRoot, file)}:${index + 1}: ${line.trim()}`]
            : [],
        ),
    );
    expect(offences).toEqual([]);
  });
});
