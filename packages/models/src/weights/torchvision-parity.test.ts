import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { torchTensorToNative } from "../backbones/densenet/torchvision-densenet-keys";
import { recordNativeOps } from "../backend/__fixtures__/native-op-recorder";
import { selectBackend } from "../backend/select-backend";
import { provisionedNativePackage } from "../native/provisioned-native-backend";
import { createClassifierFromTorch } from "./load-torch-weights";
import { readSafetensors, type SafetensorsFile, type SafetensorsTensor } from "./safetensors";

const fixtures = fileURLToPath(new URL("../__fixtures__/", import.meta.url));
const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
const script = `${repoRoot}scripts/fixtures/models/make-densenet-fixture.py`;
const generated = `${repoRoot}packages/models/fixtures-generated/densenet121/`;
const python = "/usr/bin/python3";
const TOLERANCE = 1e-4;

function tensorOf(file: SafetensorsFile, key: string): tf.Tensor {
  const tensor = file.tensors.get(key) as SafetensorsTensor;
  if (tensor === undefined) throw new Error(`fixture lacks ${key}`);
  return tf.tensor(tensor.values, tensor.shape);
}

function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Whether the Debian torch stack the fixture script needs is importable. */
function torchAvailable(): boolean {
  if (!existsSync(python)) return false;
  try {
    execFileSync(python, ["-c", "import torch, torchvision"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

// The native backend joins when `pnpm medfm backend install` has provisioned it (CI does).
const nativePackage = provisionedNativePackage();
const backends = (nativePackage ? ["cpu", "wasm", "tensorflow"] : ["cpu", "wasm"]) as Array<
  "cpu" | "wasm" | "tensorflow"
>;
const backendEnv = {
  ...process.env,
  ...(nativePackage ? { MEDFM_TFJS_NODE_PATH: nativePackage } : {}),
};

afterAll(async () => {
  await selectBackend({ backend: "cpu", log: () => {} });
});

describe.each(backends)("torchvision parity on %s", (backend) => {
  it("reproduces the small DenseNet's eval-mode logits", async () => {
    await selectBackend({ backend, env: backendEnv, log: () => {} });
    const weights = await readSafetensors(`${fixtures}densenet-small.weights.safetensors`);
    const io = await readSafetensors(`${fixtures}densenet-small.io.safetensors`);
    const model = createClassifierFromTorch(weights);
    expect(model.backbone.name).toBe("densenet");
    const input = tensorOf(io, "input") as tf.Tensor4D;
    const native = recordNativeOps();
    const logits = model.predict(input);
    native.restore();
    const expected = tensorOf(io, "logits_eval");
    expect(logits.shape).toEqual([3, 5]);
    expect(maxAbsDifference(logits, expected)).toBeLessThan(TOLERANCE);
    if (backend === "tensorflow") {
      // Every norm ran fused: after a convolution in oneDNN's, the others in our kernels, the
      // dense layers' norm1 reading the block's pieces, so no concatenation was made.
      const ops = native.names();
      expect(ops).toContain("_MklNativeFusedConv2D");
      expect(ops).toContain("MedfmBatchNormRelu");
      expect(ops).toContain("MedfmConcatBatchNormRelu");
      expect(
        ops.filter((op) => op === "FusedBatchNorm" || op === "Relu" || op === "ConcatV2"),
      ).toEqual([]);
    }
    tf.dispose([input, logits, expected]);
    model.dispose();
  });

  it("reproduces a training step: logits, every gradient and the running statistics", async () => {
    await selectBackend({ backend, env: backendEnv, log: () => {} });
    const weights = await readSafetensors(`${fixtures}densenet-small.weights.safetensors`);
    const io = await readSafetensors(`${fixtures}densenet-small.io.safetensors`);
    for (const memoryEfficient of [false, true]) {
      const model = createClassifierFromTorch(weights, { memoryEfficient });
      const input = tensorOf(io, "train_input") as tf.Tensor4D;
      const lossWeights = tensorOf(io, "loss_weights");
      let logits: tf.Tensor | undefined;
      const named = model.namedTrainableVariables();
      const { value, grads } = tf.variableGrads(() => {
        const output = model.forward(input, { training: true });
        logits = tf.keep(output.clone());
        return tf.sum(tf.mul(output, lossWeights)) as tf.Scalar;
      }, [...named.values()]);
      const expectedLogits = tensorOf(io, "logits_train");
      expect(maxAbsDifference(logits as tf.Tensor, expectedLogits)).toBeLessThan(TOLERANCE);
      for (const [key, variable] of named) {
        const expected = torchTensorToNative(
          key,
          io.tensors.get(`grad.${key}`) as SafetensorsTensor,
        );
        // Gradients sum over many terms; compare relative to their scale.
        const scale = Math.max(
          1,
          tf.tidy(() => tf.max(tf.abs(expected)).dataSync()[0]),
        );
        expect(
          maxAbsDifference(grads[variable.name], expected) / scale,
          `${key} (${memoryEfficient})`,
        ).toBeLessThan(TOLERANCE);
        expected.dispose();
      }
      const state = model.stateDict();
      for (const [key, tensor] of io.tensors) {
        if (!key.startsWith("after_train.")) continue;
        const name = key.slice("after_train.".length);
        const expected = tf.tensor(
          tensor.values,
          tensor.shape,
          tensor.values instanceof Int32Array ? "int32" : "float32",
        );
        expect(maxAbsDifference(state.get(name) as tf.Tensor, expected), name).toBeLessThan(
          TOLERANCE,
        );
        expected.dispose();
      }
      expect(state.get("features.norm5.num_batches_tracked")?.dataSync()[0]).toBe(4);
      tf.dispose([
        input,
        lossWeights,
        value,
        logits as tf.Tensor,
        expectedLogits,
        ...Object.values(grads),
        ...state.values(),
      ]);
      model.dispose();
    }
  });
});

describe("torchvision densenet121 parity", () => {
  const ci = process.env.CI === "true";
  const available = torchAvailable();
  if (!available && !ci) {
    it.skip(`needs ${python} with torch and torchvision (python3-torch, python3-torchvision) to build the reference`, () => {});
    return;
  }
  it.each(backends)("reproduces densenet121's eval-mode logits at 64x64 on %s", async (backend) => {
    const reference = `${generated}densenet121.io.safetensors`;
    // Rebuild when missing or older than the script that makes it.
    if (!existsSync(reference) || statSync(reference).mtimeMs < statSync(script).mtimeMs) {
      execFileSync(python, [script, "full", generated], { stdio: "inherit" });
    }
    await selectBackend({ backend, env: backendEnv, log: () => {} });
    const weights = await readSafetensors(`${generated}densenet121.weights.safetensors`);
    const io = await readSafetensors(`${generated}densenet121.io.safetensors`);
    const model = createClassifierFromTorch(weights);
    expect(model.backbone.name).toBe("densenet121");
    const input = tensorOf(io, "input") as tf.Tensor4D;
    const logits = model.predict(input);
    const expected = tensorOf(io, "logits_eval");
    expect(logits.shape).toEqual([2, 1000]);
    expect(maxAbsDifference(logits, expected)).toBeLessThan(TOLERANCE);
    tf.dispose([input, logits, expected]);
    model.dispose();
  });
});
