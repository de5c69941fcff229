import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { densenet } from "../backbones/densenet/densenet";
import { createClassifier } from "../classifier";
import { cosinePrototypeHead } from "../heads/cosine-prototype-head";
import type { Head } from "../heads/head";
import { linearHead } from "../heads/linear-head";
import { mlpHead } from "../heads/mlp-head";
import { loadClassifier, saveClassifier } from "./save-load";

const small = { growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8, bnSize: 2, seed: 5 };

function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("saveClassifier / loadClassifier", () => {
  it.each<[string, () => Head]>([
    [
      "linear",
      () =>
        linearHead({ numClasses: 3, kind: "multi-label", classes: ["a", "b", "c"], dropout: 0.2 }),
    ],
    ["mlp", () => mlpHead({ numClasses: 2, kind: "multi-class", hiddenFeatures: 5, seed: 3 })],
    [
      "cosine-prototype",
      () => cosinePrototypeHead({ numClasses: 4, kind: "multi-class", scale: 12 }),
    ],
  ])(
    "round-trips a DenseNet with a %s head, running statistics included",
    async (_type, makeHead) => {
      const model = createClassifier({ backbone: densenet(small), head: makeHead() });
      const x = tf.randomNormal([2, 20, 20, 3], 0, 1, "float32", 9) as tf.Tensor4D;
      // A training-mode pass moves the running statistics away from their 0/1 start.
      tf.dispose(model.forward(x, { training: true }));
      const directory = mkdtempSync(join(tmpdir(), "medfm-save-"));
      const path = await saveClassifier(model, directory, { metadata: { task: "demo" } });
      const saved = JSON.parse(readFileSync(path, "utf8"));
      expect(saved.format).toBe("medfm-classifier");
      expect(saved.modelTopology.head).toEqual(model.head.metadata());
      expect(saved.userDefinedMetadata).toEqual({ task: "demo" });
      const loaded = await loadClassifier(directory);
      expect(loaded.head.metadata()).toEqual(model.head.metadata());
      expect(loaded.head.classes).toEqual(model.head.classes);
      expect(maxAbsDifference(model.predict(x), loaded.predict(x))).toBe(0);
      const counter = loaded.stateDict().get("features.norm0.num_batches_tracked");
      expect(counter?.dataSync()[0]).toBe(1);
      tf.dispose([x, counter as tf.Tensor]);
      model.dispose();
      loaded.dispose();
    },
  );

  it("names the file when model.json is not ours or the weights are short", async () => {
    const directory = mkdtempSync(join(tmpdir(), "medfm-save-"));
    writeFileSync(join(directory, "model.json"), JSON.stringify({ format: "layers-model" }));
    await expect(loadClassifier(directory)).rejects.toThrow(
      `${join(directory, "model.json")}: format is "layers-model", expected "medfm-classifier"`,
    );
    const model = createClassifier({
      backbone: densenet(small),
      head: linearHead({ numClasses: 2, kind: "multi-label" }),
    });
    await saveClassifier(model, directory);
    const weights = join(directory, "weights.bin");
    writeFileSync(weights, readFileSync(weights).subarray(0, 100));
    await expect(loadClassifier(join(directory, "model.json"))).rejects.toThrow(
      /weights hold 100 bytes but the manifest describes \d+/,
    );
    model.dispose();
  });
});

describe("model.json preprocessing", () => {
  it("loads a model.json written before preprocessing was recorded with ImageNet's", async () => {
    const model = createClassifier({
      backbone: densenet(small),
      head: linearHead({ numClasses: 2, kind: "multi-class" }),
      preprocessing: {
        mean: [0.1, 0.2, 0.3],
        std: [0.5, 0.5, 0.5],
        inputSize: 64,
        interpolation: "bicubic",
        crop: 0.875,
      },
    });
    const directory = mkdtempSync(join(tmpdir(), "medfm-old-model-json-"));
    const path = await saveClassifier(model, directory);
    model.dispose();
    const recorded = await loadClassifier(path);
    expect(recorded.preprocessing).toEqual({
      mean: [0.1, 0.2, 0.3],
      std: [0.5, 0.5, 0.5],
      inputSize: 64,
      interpolation: "bicubic",
      crop: 0.875,
    });
    recorded.dispose();
    const json = JSON.parse(readFileSync(path, "utf8"));
    delete json.preprocessing;
    writeFileSync(path, JSON.stringify(json));
    const old = await loadClassifier(path);
    expect(old.preprocessing).toEqual({
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      inputSize: 224,
      interpolation: "bilinear",
      crop: 1,
    });
    old.dispose();
  });

  it("refuses an unregistered backbone type naming the file and the registered types", async () => {
    const model = createClassifier({
      backbone: densenet(small),
      head: linearHead({ numClasses: 2, kind: "multi-class" }),
    });
    const directory = mkdtempSync(join(tmpdir(), "medfm-unknown-type-"));
    const path = await saveClassifier(model, directory);
    model.dispose();
    const json = JSON.parse(readFileSync(path, "utf8"));
    json.modelTopology.backbone.type = "resnet";
    writeFileSync(path, JSON.stringify(json));
    await expect(loadClassifier(path)).rejects.toThrow(
      `${path}: unknown backbone type "resnet"; registered types: densenet`,
    );
  });
});
