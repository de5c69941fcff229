import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  colonTask,
  generateSyntheticDataset,
  normalizeInto,
  type ResizeOptions,
  readPixels,
} from "@medfm/data";
import {
  type BackbonePreprocessing,
  createClassifier,
  densenet,
  gradCam,
  linearHead,
  loadClassifier,
  saveClassifier,
} from "@medfm/models";
import * as tf from "@tensorflow/tfjs";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMedfm } from "../testing/run-medfm";

let root: string;
let image: string;
let modelDir: string;

beforeAll(async () => {
  process.env.MEDFM_BACKEND = "cpu";
  root = await mkdtemp(join(tmpdir(), "medfm-gradcam-cli-"));
  const dataset = await generateSyntheticDataset({
    task: "colon",
    outputDir: join(root, "data"),
    trainCount: 1,
    valCount: 1,
    imageSize: 40,
    seed: 6,
  });
  const { readdir } = await import("node:fs/promises");
  image = join(dataset.dataRoot, (await readdir(dataset.dataRoot)).sort()[0]);
  await tf.setBackend("cpu");
  const model = createClassifier({
    backbone: densenet({
      growthRate: 4,
      blockConfig: [2, 2],
      numInitFeatures: 8,
      bnSize: 2,
      seed: 8,
    }),
    head: linearHead({ numClasses: 2, kind: "multi-class", classes: colonTask.classes, seed: 8 }),
  });
  modelDir = join(root, "model");
  await saveClassifier(model, modelDir, { metadata: { imageSize: 32 } });
  model.dispose();
});

afterAll(async () => {
  delete process.env.MEDFM_BACKEND;
  await rm(root, { recursive: true, force: true });
});

/** A tiny colon DenseNet that records `preprocessing`, saved for 32 px input under `folder`. */
async function savedWith(preprocessing: BackbonePreprocessing, folder: string): Promise<string> {
  const saved = createClassifier({
    backbone: densenet({ growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8, bnSize: 2 }),
    head: linearHead({ numClasses: 2, kind: "multi-class", classes: colonTask.classes }),
    preprocessing,
  });
  const directory = join(root, folder);
  await saveClassifier(saved, directory, { metadata: { imageSize: 32 } });
  saved.dispose();
  return directory;
}

/** The `--json` summary of `medfm gradcam` for class positive of the test image. */
async function gradcamSummary(weights: string, output: string) {
  return JSON.parse(
    await runMedfm([
      "gradcam",
      "--weights",
      weights,
      "--image",
      image,
      "--class",
      "positive",
      "--output",
      output,
      "--json",
    ]),
  );
}

/** The positive logit of the model in `weights` on the test image read with `resize`. */
async function positiveLogit(
  weights: string,
  resize: Omit<ResizeOptions, "width" | "height">,
  normalisation: { mean?: number[]; std?: number[] } = {},
): Promise<number> {
  const model = await loadClassifier(weights);
  const pixels = await readPixels(image, {
    channels: 3,
    resize: { ...resize, width: 32, height: 32 },
  });
  const values = new Float32Array(32 * 32 * 3);
  normalizeInto(values, 0, pixels, normalisation);
  const logit = tf.tidy(() => model.predict(tf.tensor4d(values, [1, 32, 32, 3])).dataSync()[1]);
  model.dispose();
  return logit;
}

describe("medfm gradcam", () => {
  it("normalises with the preprocessing the model records, not ImageNet's", async () => {
    const own = {
      mean: [0.2, 0.3, 0.4] as const,
      std: [0.1, 0.2, 0.15] as const,
      inputSize: 32,
      interpolation: "bilinear" as const,
      crop: 1,
    };
    const ownDir = await savedWith(own, "own-preprocessing");
    const summary = await gradcamSummary(ownDir, join(root, "out", "own.png"));
    const ownLogit = await positiveLogit(
      ownDir,
      {},
      {
        mean: own.mean.map((value) => value * 255),
        std: own.std.map((value) => value * 255),
      },
    );
    expect(summary.logit).toBeCloseTo(ownLogit, 4);
    expect(Math.abs(summary.logit - (await positiveLogit(ownDir, {})))).toBeGreaterThan(1e-3);
  });

  it("sees the centre crop the weights record and draws on that part of the image", async () => {
    // timm's ViT defaults at 32 px: bicubic, short side to floor(32 / 0.9) = 35, centre 32 x 32
    // at (2, 2) of the 35 x 35 image, which is (2, 2) and 37 x 37 px of the 40 x 40 original.
    const cropDir = await savedWith(
      {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        inputSize: 32,
        interpolation: "bicubic",
        crop: 0.9,
      },
      "own-crop",
    );
    const output = join(root, "out", "crop.png");
    const summary = await gradcamSummary(cropDir, output);
    expect(summary).toMatchObject({ width: 37, height: 37 });
    const png = await sharp(output).raw().toBuffer({ resolveWithObject: true });
    expect(png.info).toMatchObject({ width: 37, height: 37 });
    const cropped = await positiveLogit(cropDir, {
      mode: "short-side-crop",
      convention: "torchvision",
      shortSide: 35,
      kernel: "cubic",
    });
    expect(summary.logit).toBeCloseTo(cropped, 4);
    expect(Math.abs(summary.logit - (await positiveLogit(cropDir, {})))).toBeGreaterThan(1e-4);
  });

  it("writes the heatmap over the image at the image's size, peak as the library finds it", async () => {
    const output = join(root, "out", "cam.png");
    const summary = await gradcamSummary(modelDir, output);
    expect(summary).toMatchObject({ class: "positive", classIndex: 1, width: 40, height: 40 });
    expect(summary.featureMap).toEqual([4, 4]);

    // The same map from the library on the same input.
    const model = await loadClassifier(modelDir);
    const pixels = await readPixels(image, { channels: 3, resize: { width: 32, height: 32 } });
    const values = new Float32Array(32 * 32 * 3);
    normalizeInto(values, 0, pixels);
    const input = tf.tensor4d(values, [1, 32, 32, 3]);
    const expected = gradCam(model, input, { classIndex: 1, outputSize: [40, 40] });
    expect(summary.peak).toEqual(expected.peak);
    input.dispose();
    model.dispose();

    // The PNG blends the image with jet colours: at the peak (heat 1) jet is (128, 0, 0).
    const png = await sharp(output).raw().toBuffer({ resolveWithObject: true });
    expect(png.info).toMatchObject({ width: 40, height: 40, channels: 3, format: "raw" });
    const original = await readPixels(image, { channels: 3 });
    const at = (summary.peak.y * 40 + summary.peak.x) * 3;
    const jet = [128, 0, 0];
    for (let c = 0; c < 3; c += 1) {
      expect(
        Math.abs(png.data[at + c] - (0.5 * original.data[at + c] + 0.5 * jet[c])),
      ).toBeLessThanOrEqual(1);
    }
  });

  it("says so when the input is too small for the map to localise", async () => {
    const text = await runMedfm([
      "gradcam",
      "--weights",
      modelDir,
      "--image",
      image,
      "--class",
      "1",
      "--image-size",
      "8",
      "--output",
      join(root, "small.png"),
    ]);
    expect(text).toContain("Grad-CAM of positive");
    expect(text).toContain("at 8 px the last dense block's map is 1x1");
  });

  it("names the classes when --class is unknown", async () => {
    await expect(
      runMedfm([
        "gradcam",
        "--weights",
        modelDir,
        "--image",
        image,
        "--class",
        "tumour",
        "--output",
        join(root, "x.png"),
      ]),
    ).rejects.toThrow(/--class "tumour": not one of negative, positive/);
  });
});
