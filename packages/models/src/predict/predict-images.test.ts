import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  generateSyntheticDataset,
  normalizeInto,
  type ResizeOptions,
  readAnnotationFile,
  readPixels,
} from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BackbonePreprocessing } from "../backbones/backbone-spec";
import { densenet } from "../backbones/densenet/densenet";
import { type Classifier, createClassifier } from "../classifier";
import { linearHead } from "../heads/linear-head";
import { loadClassifier, saveClassifier } from "../weights/save-load";
import { formatSubmission } from "./format-submission";
import { listImages } from "./list-images";
import { predictImages } from "./predict-images";

let root: string;
let dataRoot: string;
let names: string[];
const size = 16;

const classifier = () =>
  createClassifier({
    backbone: densenet({
      growthRate: 4,
      blockConfig: [2, 2],
      numInitFeatures: 8,
      bnSize: 2,
      seed: 2,
    }),
    head: linearHead({ numClasses: 3, kind: "multi-label", seed: 2 }),
  });

/** The model input of one image, built from the decoder and normaliser directly. */
async function input(
  name: string,
  flip: boolean,
  normalisation: { mean?: readonly number[]; std?: readonly number[] } = {},
  resize: Omit<ResizeOptions, "width" | "height"> = {},
): Promise<Float32Array> {
  const pixels = await readPixels(join(dataRoot, name), {
    resize: { ...resize, width: size, height: size },
    flip,
  });
  const target = new Float32Array(size * size * 3);
  normalizeInto(target, 0, pixels, normalisation);
  return target;
}

beforeAll(async () => {
  await tf.setBackend("cpu");
  root = await mkdtemp(join(tmpdir(), "medfm-predict-"));
  const dataset = await generateSyntheticDataset({
    task: "endo",
    outputDir: join(root, "data"),
    trainCount: 5,
    valCount: 1,
    imageSize: 24,
    seed: 9,
  });
  dataRoot = dataset.dataRoot;
  names = (await readAnnotationFile(dataset.trainAnnotation)).samples.map((s) => s.name);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A tiny DenseNet that records `preprocessing`, saved into `folder` and loaded back. */
async function savedWith(
  preprocessing: BackbonePreprocessing,
  folder: string,
): Promise<Classifier> {
  const original = createClassifier({
    backbone: densenet({ growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8, bnSize: 2 }),
    head: linearHead({ numClasses: 3, kind: "multi-label", seed: 2 }),
    preprocessing,
  });
  const model = await loadClassifier(await saveClassifier(original, join(root, folder)));
  original.dispose();
  return model;
}

/**
 * Checks that predictImages scores every image as the model scores `expected(name)`, and
 * returns the largest difference from its scores on `other(name)`.
 */
async function scoresMatch(
  model: Classifier,
  expected: (name: string) => Promise<Float32Array>,
  other: (name: string) => Promise<Float32Array>,
): Promise<number> {
  const predicted = await predictImages({
    model,
    dataRoot,
    names,
    preprocessing: { imageSize: size },
  });
  let otherDifference = 0;
  for (const [row, name] of names.entries()) {
    const [wanted, alternative] = [await expected(name), await other(name)];
    const [wantedScores, otherScores] = tf.tidy(() => [
      model.predictScores(tf.tensor4d(wanted, [1, size, size, 3])).dataSync(),
      model.predictScores(tf.tensor4d(alternative, [1, size, size, 3])).dataSync(),
    ]);
    wantedScores.forEach((value, c) => {
      expect(predicted.scores[row * 3 + c]).toBeCloseTo(value, 5);
      otherDifference = Math.max(
        otherDifference,
        Math.abs(predicted.scores[row * 3 + c] - otherScores[c]),
      );
    });
  }
  return otherDifference;
}

describe("predictImages", () => {
  it("normalises with the preprocessing a loaded model records, not ImageNet's", async () => {
    const own = {
      mean: [0.3, 0.4, 0.5] as const,
      std: [0.2, 0.1, 0.3] as const,
      inputSize: size,
      interpolation: "bilinear" as const,
      crop: 1,
    };
    const model = await savedWith(own, "own-norm");
    expect(model.preprocessing).toEqual(own);
    const imageNetDifference = await scoresMatch(
      model,
      (name) =>
        input(name, false, {
          mean: own.mean.map((value) => value * 255),
          std: own.std.map((value) => value * 255),
        }),
      (name) => input(name, false),
    );
    // ImageNet normalisation would give other scores: the test tells the two apart.
    expect(imageNetDifference).toBeGreaterThan(1e-3);
    model.dispose();
  });

  it("resizes with the interpolation and centre crop the loaded model records", async () => {
    // timm's ViT defaults: bicubic, crop_pct 0.9 (short side to floor(16 / 0.9) = 17, then the
    // centre 16 x 16), with ImageNet's normalisation so only the geometry differs.
    const model = await savedWith(
      {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        inputSize: size,
        interpolation: "bicubic",
        crop: 0.9,
      },
      "own-crop",
    );
    const crop = {
      mode: "short-side-crop",
      convention: "torchvision",
      shortSide: 17,
      kernel: "cubic",
    } as const;
    const stretchedDifference = await scoresMatch(
      model,
      (name) => input(name, false, {}, crop),
      (name) => input(name, false),
    );
    // The bilinear stretch of models that record no crop gives other scores.
    expect(stretchedDifference).toBeGreaterThan(1e-4);
    model.dispose();
  });

  it("scores every image in order, independent of the batch size", async () => {
    const model = classifier();
    const progress: number[] = [];
    const small = await predictImages({
      model,
      dataRoot,
      names,
      preprocessing: { imageSize: size },
      batchSize: 2,
      onProgress: ({ done }) => progress.push(done),
    });
    expect(progress).toEqual([2, 4, 5]);
    const large = await predictImages({
      model,
      dataRoot,
      names,
      preprocessing: { imageSize: size },
    });
    expect(small.numClasses).toBe(3);
    expect(small.names).toEqual(names);
    small.scores.forEach((value, index) => {
      expect(value).toBeCloseTo(large.scores[index], 5);
    });
    // The same scores as the model on inputs built by the decoder and normaliser directly.
    for (const [row, name] of names.entries()) {
      const image = await input(name, false);
      const scores = tf.tidy(() =>
        model.predictScores(tf.tensor4d(image, [1, size, size, 3])).dataSync(),
      );
      scores.forEach((value, c) => {
        expect(small.scores[row * 3 + c]).toBeCloseTo(value, 5);
      });
    }
    model.dispose();
  });

  it("with flip TTA averages the scores of each image and its mirror image", async () => {
    const model = classifier();
    const plain = await predictImages({
      model,
      dataRoot,
      names,
      preprocessing: { imageSize: size },
    });
    const tta = await predictImages({
      model,
      dataRoot,
      names,
      preprocessing: { imageSize: size },
      tta: "flip",
      batchSize: 3,
    });
    let largestChange = 0;
    for (const [row, name] of names.entries()) {
      const mirrored = await input(name, true);
      const mirrorScores = tf.tidy(() =>
        model.predictScores(tf.tensor4d(mirrored, [1, size, size, 3])).dataSync(),
      );
      for (let c = 0; c < 3; c += 1) {
        const index = row * 3 + c;
        expect(tta.scores[index]).toBeCloseTo((plain.scores[index] + mirrorScores[c]) / 2, 5);
        largestChange = Math.max(largestChange, Math.abs(tta.scores[index] - plain.scores[index]));
      }
    }
    // The synthetic frames are not symmetric, so the mirror changes the scores.
    expect(largestChange).toBeGreaterThan(1e-5);
    model.dispose();
  });

  it("names an image it cannot read", async () => {
    const model = classifier();
    await writeFile(join(dataRoot, "broken.png"), "not a png");
    await expect(
      predictImages({ model, dataRoot, names: ["broken.png"], preprocessing: { imageSize: size } }),
    ).rejects.toThrow(/broken\.png/);
    model.dispose();
  });
});

describe("listImages", () => {
  it("lists image files by extension, sorted, optionally recursively", async () => {
    const folder = join(root, "listing");
    await mkdir(join(folder, "sub"), { recursive: true });
    for (const file of ["b.PNG", "a.jpg", "notes.txt", "sub/c.png"]) {
      await writeFile(join(folder, file), "x");
    }
    expect(await listImages(folder)).toEqual(["a.jpg", "b.PNG"]);
    expect(await listImages(folder, { recursive: true })).toEqual(["a.jpg", "b.PNG", "sub/c.png"]);
  });
});

describe("formatSubmission", () => {
  it("writes name,score1,...,scoreC lines without a header, reading back to the same float32", () => {
    const scores = Float32Array.from([0.1, 0.25, 1e-7, 0.999999, 0.5, 0]);
    const text = formatSubmission({ names: ["a b.png", "c.png"], scores, numClasses: 3 });
    expect(text).toBe("a b.png,0.100000001,0.25,1.00000001e-7\nc.png,0.999998987,0.5,0\n");
    const back = text
      .trim()
      .split("\n")
      .flatMap((line) => line.split(",").slice(1).map(Number));
    expect(Float32Array.from(back)).toEqual(scores);
  });

  it("refuses names with commas and non-finite scores, naming them", () => {
    expect(() =>
      formatSubmission({ names: ["a,b.png"], scores: Float32Array.from([1]), numClasses: 1 }),
    ).toThrow(/"a,b.png" contains a comma/);
    expect(() =>
      formatSubmission({
        names: ["x.png"],
        scores: Float32Array.from([Number.NaN]),
        numClasses: 1,
      }),
    ).toThrow(/x\.png, class 0: score NaN is not finite/);
  });
});
