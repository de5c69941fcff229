import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSyntheticDataset, readAnnotationFile } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { densenet } from "../backbones/densenet/densenet";
import { createClassifier } from "../classifier";
import { linearHead } from "../heads/linear-head";
import { extractFeatures, weightsFingerprint } from "./feature-cache";

let root: string;
let dataRoot: string;
let names: string[];

function tinyClassifier(seed: number) {
  return createClassifier({
    backbone: densenet({ growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8, bnSize: 2, seed }),
    head: linearHead({ numClasses: 2, kind: "multi-class", seed }),
  });
}

beforeAll(async () => {
  await tf.setBackend("cpu");
  root = await mkdtemp(join(tmpdir(), "medfm-feature-cache-"));
  const dataset = await generateSyntheticDataset({
    task: "colon",
    outputDir: join(root, "data"),
    trainCount: 6,
    valCount: 2,
    imageSize: 24,
    seed: 5,
  });
  dataRoot = dataset.dataRoot;
  names = (await readAnnotationFile(dataset.trainAnnotation)).samples.map((s) => s.name);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("extractFeatures", () => {
  it("normalises with the classifier's preprocessing when none is given, keyed apart", async () => {
    const mean = [0.1, 0.6, 0.3] as const;
    const std = [0.3, 0.2, 0.4] as const;
    const classifier = createClassifier({
      backbone: densenet({ growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8, bnSize: 2 }),
      head: linearHead({ numClasses: 2, kind: "multi-class" }),
      preprocessing: { mean, std, inputSize: 16, interpolation: "bilinear", crop: 1 },
    });
    const cacheDir = join(root, "cache-own-normalisation");
    const implicit = await extractFeatures({
      classifier,
      dataRoot,
      names,
      preprocessing: { imageSize: 16 },
      cacheDir,
    });
    const explicit = await extractFeatures({
      classifier,
      dataRoot,
      names,
      preprocessing: {
        imageSize: 16,
        mean: mean.map((value) => value * 255),
        std: std.map((value) => value * 255),
      },
      cacheDir: false,
    });
    expect(Array.from(implicit.features.data)).toEqual(Array.from(explicit.features.data));
    const imageNet = await extractFeatures({
      classifier,
      dataRoot,
      names,
      preprocessing: {
        imageSize: 16,
        mean: [123.675, 116.28, 103.53],
        std: [58.395, 57.12, 57.375],
      },
      cacheDir,
    });
    // ImageNet's normalisation is another cache entry with other features.
    expect(imageNet.misses).toBe(names.length);
    expect(Array.from(imageNet.features.data)).not.toEqual(Array.from(implicit.features.data));
    classifier.dispose();
  });

  it("computes once, then serves every row from the cache with the same values", async () => {
    const classifier = tinyClassifier(1);
    const cacheDir = join(root, "cache-a");
    const preprocessing = { imageSize: 16 };
    const first = await extractFeatures({ classifier, dataRoot, names, preprocessing, cacheDir });
    expect(first).toMatchObject({ hits: 0, misses: names.length });
    expect(first.features.rows).toBe(names.length);
    expect(first.features.columns).toBe(classifier.backbone.numFeatures);
    const second = await extractFeatures({ classifier, dataRoot, names, preprocessing, cacheDir });
    expect(second).toMatchObject({ hits: names.length, misses: 0 });
    expect(Array.from(second.features.data)).toEqual(Array.from(first.features.data));
    // The cached rows are the model's own features, not something else of the right size.
    const uncached = await extractFeatures({
      classifier,
      dataRoot,
      names,
      preprocessing,
      cacheDir: false,
    });
    expect(Array.from(uncached.features.data)).toEqual(Array.from(first.features.data));
    const files = await readdir(first.cacheFolder as string);
    expect(files.filter((file) => file.endsWith(".f32"))).toHaveLength(names.length);
    classifier.dispose();
  });

  it("misses when the weights, the preprocessing or the image content change", async () => {
    const cacheDir = join(root, "cache-b");
    const classifier = tinyClassifier(1);
    const preprocessing = { imageSize: 16 };
    await extractFeatures({ classifier, dataRoot, names, preprocessing, cacheDir });

    const otherWeights = tinyClassifier(2);
    expect(weightsFingerprint(otherWeights)).not.toBe(weightsFingerprint(classifier));
    const byWeights = await extractFeatures({
      classifier: otherWeights,
      dataRoot,
      names,
      preprocessing,
      cacheDir,
    });
    expect(byWeights).toMatchObject({ hits: 0, misses: names.length });

    // Training moves the running statistics: a changed buffer is a changed fingerprint.
    const before = weightsFingerprint(classifier);
    const [firstNorm] = [...classifier.backbone.namedVariables()].find(([key]) =>
      key.endsWith("running_mean"),
    ) ?? [""];
    const state = classifier.stateDict();
    const bumped = state.get(firstNorm) as tf.Tensor;
    state.set(firstNorm, tf.add(bumped, 0.5));
    classifier.loadStateDict(state);
    tf.dispose([...state.values(), bumped]);
    expect(weightsFingerprint(classifier)).not.toBe(before);
    const byStatistics = await extractFeatures({
      classifier,
      dataRoot,
      names,
      preprocessing,
      cacheDir,
    });
    expect(byStatistics.misses).toBe(names.length);

    for (const changed of [
      { imageSize: 20 },
      { imageSize: 16, mean: [0, 0, 0] },
      { imageSize: 16, resize: { mode: "exact" as const, kernel: "cubic" as const } },
    ]) {
      const result = await extractFeatures({
        classifier,
        dataRoot,
        names,
        preprocessing: changed,
        cacheDir,
      });
      expect(result.misses, JSON.stringify(changed)).toBe(names.length);
    }

    // An edited image misses; a renamed or copied one is found by its content.
    const valNames = (await readdir(dataRoot)).filter((name) => !names.includes(name));
    await copyFile(join(dataRoot, valNames[0]), join(dataRoot, names[0]));
    const edited = await extractFeatures({ classifier, dataRoot, names, preprocessing, cacheDir });
    expect(edited).toMatchObject({ hits: names.length - 1, misses: 1 });
    await copyFile(join(dataRoot, names[2]), join(dataRoot, names[1]));
    const copied = await extractFeatures({ classifier, dataRoot, names, preprocessing, cacheDir });
    expect(copied).toMatchObject({ hits: names.length, misses: 0 });
    const columns = copied.features.columns;
    expect(Array.from(copied.features.data.slice(columns, 2 * columns))).toEqual(
      Array.from(copied.features.data.slice(2 * columns, 3 * columns)),
    );
    classifier.dispose();
    otherWeights.dispose();
  });
});
