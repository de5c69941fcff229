import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { colonTask, generateSyntheticDataset, readAnnotationFile, type Sample } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { densenet } from "../backbones/densenet/densenet";
import { selectBackend } from "../backend/select-backend";
import { type Classifier, createClassifier } from "../classifier";
import type { CosinePrototypeHead } from "../heads/cosine-prototype-head";
import { linearHead } from "../heads/linear-head";
import { loadClassifier } from "../weights/save-load";
import { changedKeys, snapshot } from "./__fixtures__/variable-changes";
import { adaptClassifier, saveAdaptation } from "./adapt-classifier";
import { extractFeatures } from "./feature-cache";
import { l2NormalizeRows } from "./feature-matrix";
import { loadVisualPrompt, promptedClassifier, VISUAL_PROMPT_FILE } from "./visual-prompt";

let root: string;
let dataRoot: string;
let samples: Sample[];
const preprocessing = { imageSize: 16 };

function tinyClassifier(seed = 1): Classifier {
  return createClassifier({
    backbone: densenet({ growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8, bnSize: 2, seed }),
    // A pretraining head of another width: the adaptation must replace it.
    head: linearHead({ numClasses: 5, kind: "multi-label", seed }),
  });
}

async function loadImages(names: readonly string[]): Promise<tf.Tensor4D> {
  const { createLoader } = await import("@medfm/data");
  const loader = createLoader({
    samples: names.map((name) => ({ name, labels: new Uint8Array(0) })),
    dataRoot,
    imageSize: 16,
    batchSize: names.length,
  });
  for await (const batch of loader.epoch(0)) return tf.tensor4d(batch.images, batch.shape);
  throw new Error("no batch");
}

beforeAll(async () => {
  await selectBackend({ backend: "wasm", log: () => {} });
  root = await mkdtemp(join(tmpdir(), "medfm-adapt-"));
  const dataset = await generateSyntheticDataset({
    task: "colon",
    outputDir: join(root, "data"),
    trainCount: 12,
    valCount: 4,
    imageSize: 24,
    seed: 3,
  });
  dataRoot = dataset.dataRoot;
  samples = (await readAnnotationFile(dataset.trainAnnotation, { task: colonTask })).samples;
  const positives = samples.filter((sample) => sample.labels[1] === 1).length;
  expect(positives).toBeGreaterThan(0);
  expect(positives).toBeLessThan(samples.length);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("adaptClassifier", () => {
  it("visual-prompt trains only the prompt and the head", async () => {
    const classifier = tinyClassifier();
    const backboneBefore = snapshot(classifier.backbone.namedVariables());
    const result = await adaptClassifier({
      method: "visual-prompt",
      classifier,
      task: colonTask,
      support: { dataRoot, samples },
      preprocessing,
      padding: 2,
      epochs: 2,
      batchSize: 4,
      learningRate: 0.01,
    });
    const prompt = result.prompt;
    if (!prompt) throw new Error("no prompt");
    expect(changedKeys(backboneBefore, classifier.backbone.namedVariables())).toEqual([]);
    expect(classifier.head.numClasses).toBe(2);
    // Both head variables and all four pads moved away from their start (the pads start at 0).
    const headKeys = [...classifier.head.namedVariables().keys()];
    expect(headKeys).toEqual(["classifier.weight", "classifier.bias"]);
    for (const [key, variable] of prompt.namedVariables()) {
      expect(tf.max(tf.abs(variable)).dataSync()[0], key).toBeGreaterThan(0);
    }
    const trainable = result.model.trainableVariables();
    expect(trainable).toHaveLength(6);
    // The frame is learnt, the inside of the prompt stays zero.
    const full = prompt.prompt().arraySync()[0];
    expect(full[8][8].every((value) => value === 0)).toBe(true);
    expect(full[0][8].some((value) => value !== 0)).toBe(true);
    expect(result.history?.epochs).toHaveLength(2);

    // Saved and read back, the prompted model scores the same.
    const directory = join(root, "saved-prompt");
    await saveAdaptation(result, directory, { imageSize: 16 });
    const reloaded = await loadClassifier(directory);
    const reloadedPrompt = await loadVisualPrompt(join(directory, VISUAL_PROMPT_FILE));
    const images = await loadImages(samples.slice(0, 3).map((s) => s.name));
    const before = result.model.predictScores(images);
    const after = promptedClassifier(reloaded, reloadedPrompt).predictScores(images);
    expect(tf.max(tf.abs(tf.sub(before, after))).dataSync()[0]).toBeLessThan(1e-6);
    tf.dispose([images, before, after]);
    reloaded.dispose();
    reloadedPrompt.dispose();
    result.model.dispose();
    classifier.dispose();
  });

  it("visual-prompt leaves the head's starting values behind, finetune moves the backbone", async () => {
    const classifier = tinyClassifier();
    classifier.replaceHead(linearHead({ numClasses: 2, kind: "multi-class", seed: 4 })).dispose();
    const headBefore = snapshot(classifier.head.namedVariables());
    const prompted = await adaptClassifier({
      method: "visual-prompt",
      classifier,
      task: colonTask,
      support: { dataRoot, samples },
      preprocessing,
      padding: 3,
      epochs: 1,
      batchSize: 6,
    });
    expect(changedKeys(headBefore, classifier.head.namedVariables())).toEqual([
      "classifier.weight",
      "classifier.bias",
    ]);
    prompted.model.dispose();

    const backboneBefore = snapshot(classifier.backbone.namedVariables());
    const finetuned = await adaptClassifier({
      method: "finetune",
      classifier,
      task: colonTask,
      support: { dataRoot, samples },
      preprocessing,
      epochs: 1,
      batchSize: 6,
    });
    const changed = changedKeys(backboneBefore, classifier.backbone.namedVariables());
    expect(changed).toContain("features.conv0.weight");
    expect(changed).toContain("features.norm5.weight");
    expect(finetuned.classifier).toBe(classifier);
    classifier.dispose();
  });

  it("visual-prompt is deterministic for a seed", async () => {
    const run = async (seed: number) => {
      const classifier = tinyClassifier();
      const result = await adaptClassifier({
        method: "visual-prompt",
        classifier,
        task: colonTask,
        support: { dataRoot, samples },
        preprocessing,
        padding: 2,
        epochs: 1,
        batchSize: 4,
        seed,
      });
      const values = Array.from(result.prompt?.prompt().dataSync() ?? []);
      result.model.dispose();
      classifier.dispose();
      return values;
    };
    const first = await run(1);
    expect(await run(1)).toEqual(first);
    expect(await run(2)).not.toEqual(first);
  });

  it("meta-baseline sets each prototype to the normalised mean of its class's features", async () => {
    const classifier = tinyClassifier();
    const cacheDir = join(root, "cache");
    const result = await adaptClassifier({
      method: "meta-baseline",
      classifier,
      task: colonTask,
      support: { dataRoot, samples },
      preprocessing,
      cacheDir,
    });
    expect(result.featureCache).toEqual({ hits: 0, misses: samples.length });
    const { features } = await extractFeatures({
      classifier,
      dataRoot,
      names: samples.map((s) => s.name),
      preprocessing,
      cacheDir,
    });
    const normalised = l2NormalizeRows(features);
    const head = classifier.head as CosinePrototypeHead;
    expect(head.type).toBe("cosine-prototype");
    const prototypes = head
      .namedVariables()
      .get("classifier.prototypes")
      ?.arraySync() as number[][];
    for (let c = 0; c < 2; c += 1) {
      const mean = new Float64Array(features.columns);
      let count = 0;
      samples.forEach((sample, row) => {
        if (sample.labels[c] !== 1) return;
        count += 1;
        for (let k = 0; k < features.columns; k += 1) {
          mean[k] += normalised.data[row * features.columns + k];
        }
      });
      const norm = Math.hypot(...mean.map((value) => value / count));
      prototypes[c].forEach((value, k) => {
        expect(value).toBeCloseTo(mean[k] / count / norm, 5);
      });
    }
    // The support images' scores come from the prototypes: softmax of scaled cosines.
    const images = await loadImages(samples.map((s) => s.name));
    const scores = result.model.predictScores(images);
    expect(scores.shape).toEqual([samples.length, 2]);
    tf.dispose([images, scores]);
    classifier.dispose();
  });

  it("linear-probe fits on cached, normalised features and scores images the same way", async () => {
    const classifier = tinyClassifier();
    const cacheDir = join(root, "cache");
    const result = await adaptClassifier({
      method: "linear-probe",
      classifier,
      task: colonTask,
      support: { dataRoot, samples },
      preprocessing,
      cacheDir,
    });
    // The meta-baseline test above extracted these features with the same weights.
    expect(result.featureCache).toEqual({ hits: samples.length, misses: 0 });
    const regression = result.logisticRegression;
    if (!regression) throw new Error("no regression");
    expect(regression.normalize).toBe(true);
    const { features } = await extractFeatures({
      classifier,
      dataRoot,
      names: samples.map((s) => s.name),
      preprocessing,
      cacheDir,
    });
    const expected = regression.probabilities(features);
    const images = await loadImages(samples.map((s) => s.name));
    const scores = result.model.predictScores(images);
    const actual = scores.dataSync();
    expected.forEach((value, index) => {
      expect(actual[index]).toBeCloseTo(value, 4);
    });
    expect(regression.report.every((entry) => entry.converged)).toBe(true);
    // The Baseline is an ordinary classifier: a linear head that normalises its input. Saved
    // and read back, it scores the same.
    expect(result.classifier?.head.metadata().options.normalizeFeatures).toBe(true);
    await saveAdaptation(result, join(root, "probe"));
    const reloaded = await loadClassifier(join(root, "probe"));
    const reloadedScores = tf.tidy(() => tf.sigmoid(reloaded.predict(images)));
    expect(tf.max(tf.abs(tf.sub(reloadedScores, scores))).dataSync()[0]).toBeLessThan(1e-6);
    reloaded.dispose();
    tf.dispose([images, scores, reloadedScores]);
    result.model.dispose();

    const unnormalised = await adaptClassifier({
      method: "linear-probe",
      classifier,
      task: colonTask,
      support: { dataRoot, samples },
      preprocessing,
      cacheDir,
      normalizeFeatures: false,
    });
    expect(unnormalised.classifier?.head.type).toBe("linear");
    const weights = unnormalised.classifier?.head.namedVariables().get("classifier.weight");
    expect(Array.from(weights?.dataSync() ?? [])).toEqual(
      Array.from(Float32Array.from(unnormalised.logisticRegression?.weights ?? [])),
    );
    classifier.dispose();
  });
});
