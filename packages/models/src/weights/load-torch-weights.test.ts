import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { densenet } from "../backbones/densenet/densenet";
import {
  inferDenseNetConfig,
  normaliseTorchDenseNetKey,
} from "../backbones/densenet/torchvision-densenet-keys";
import { createClassifier } from "../classifier";
import { linearHead } from "../heads/linear-head";
import {
  createClassifierFromTorch,
  exportTorchStateDict,
  loadTorchStateDict,
  loadTorchWeights,
} from "./load-torch-weights";
import { readSafetensors, type SafetensorsTensor } from "./safetensors";
import { StateDictError } from "./state-dict-error";

const weightsPath = fileURLToPath(
  new URL("../__fixtures__/densenet-small.weights.safetensors", import.meta.url),
);
const smallConfig = { growthRate: 8, blockConfig: [2, 2, 2, 2], numInitFeatures: 16, bnSize: 4 };

function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("torch DenseNet weights", () => {
  it("normalises timm's legacy layer keys and DataParallel prefixes", () => {
    expect(normaliseTorchDenseNetKey("features.denseblock1.denselayer2.norm.1.weight")).toBe(
      "features.denseblock1.denselayer2.norm1.weight",
    );
    expect(normaliseTorchDenseNetKey("module.features.denseblock3.denselayer1.conv.2.weight")).toBe(
      "features.denseblock3.denselayer1.conv2.weight",
    );
    expect(normaliseTorchDenseNetKey("features.transition1.norm.running_var")).toBe(
      "features.transition1.norm.running_var",
    );
  });

  it("infers the configuration from the state dict", async () => {
    const file = await readSafetensors(weightsPath);
    const shapes = new Map([...file.tensors].map(([key, tensor]) => [key, tensor.shape]));
    expect(inferDenseNetConfig(shapes)).toEqual({ config: smallConfig, numClasses: 5 });
    shapes.delete("features.conv0.weight");
    expect(() => inferDenseNetConfig(shapes, "x.safetensors")).toThrow(
      "x.safetensors: not a torchvision DenseNet state dict, features.conv0.weight is missing",
    );
  });

  it("loads legacy-named weights to the same model as current names", async () => {
    const file = await readSafetensors(weightsPath);
    const legacy = new Map<string, SafetensorsTensor>();
    for (const [key, tensor] of file.tensors) {
      // Legacy checkpoints predate num_batches_tracked.
      if (key.endsWith("num_batches_tracked")) continue;
      legacy.set(
        `module.${key.replace(/(denselayer\d+\.(?:norm|conv))([12])\./, "$1.$2.")}`,
        tensor,
      );
    }
    const current = createClassifierFromTorch(file);
    const renamedModel = createClassifier({
      backbone: densenet(smallConfig),
      head: linearHead({ numClasses: 5, kind: "multi-class" }),
    });
    const report = loadTorchStateDict(renamedModel, legacy);
    expect(report.renamed).toHaveLength(legacy.size);
    expect(report.renamed).toContainEqual([
      "module.features.denseblock1.denselayer1.norm.1.weight",
      "features.denseblock1.denselayer1.norm1.weight",
    ]);
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 3) as tf.Tensor4D;
    expect(maxAbsDifference(current.predict(x), renamedModel.predict(x))).toBe(0);
    current.dispose();
    renamedModel.dispose();
    x.dispose();
  });

  it("loads the backbone only into a model with another head", async () => {
    const reference = createClassifierFromTorch(await readSafetensors(weightsPath));
    const chest = createClassifier({
      backbone: densenet(smallConfig),
      head: linearHead({ numClasses: 19, kind: "multi-label" }),
    });
    const report = await loadTorchWeights(chest, weightsPath, { backboneOnly: true });
    expect(report.skipped).toEqual(["classifier.weight", "classifier.bias"]);
    expect(report.missing).toEqual(["classifier.weight", "classifier.bias"]);
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, "float32", 4) as tf.Tensor4D;
    expect(maxAbsDifference(reference.features(x), chest.features(x))).toBe(0);
    expect(chest.predict(x).shape).toEqual([2, 19]);
    // Without backboneOnly the 5-class classifier does not fit the 19-class head.
    await expect(loadTorchWeights(chest, weightsPath)).rejects.toThrow(
      /classifier\.weight: expected \[\d+, 19\], got \[\d+, 5\]/,
    );
    reference.dispose();
    chest.dispose();
    x.dispose();
  });

  it("lists missing and unexpected keys in strict mode", async () => {
    const wrong = createClassifier({
      backbone: densenet({ ...smallConfig, blockConfig: [2, 2, 3, 2] }),
      head: linearHead({ numClasses: 5, kind: "multi-class" }),
    });
    let error: unknown;
    try {
      await loadTorchWeights(wrong, weightsPath);
    } catch (caught) {
      error = caught;
    }
    expect(StateDictError.isInstance(error)).toBe(true);
    const stateError = error as StateDictError;
    expect(stateError.message.startsWith(weightsPath)).toBe(true);
    expect(stateError.missing).toContain("features.denseblock3.denselayer3.conv2.weight");
    // Missing counters are filled with 0 as torch does, so they are not listed.
    expect(stateError.missing.some((key) => key.endsWith("num_batches_tracked"))).toBe(false);
    expect(
      stateError.mismatched.some((line) => line.startsWith("features.transition3.norm.weight")),
    ).toBe(true);
    wrong.dispose();
  });

  it("exports the exact torch state dict it loaded (layouts, order, int64 counters)", async () => {
    const file = await readSafetensors(weightsPath);
    const model = createClassifierFromTorch(file);
    const exported = exportTorchStateDict(model);
    expect([...exported.keys()]).toEqual([...file.tensors.keys()]);
    for (const [key, tensor] of file.tensors) {
      const mine = exported.get(key);
      expect(mine?.dtype, key).toBe(tensor.dtype);
      expect(mine?.shape, key).toEqual(tensor.shape);
      expect(mine?.values, key).toEqual(tensor.values);
    }
    model.dispose();
  });
});
