import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { normalizeInto, readPixels, resizedRegion } from "@medfm/data";
import {
  type Classifier,
  type GradCamResult,
  gradCam,
  heatmapOverlay,
  loaderPreprocessing,
  scoresFromLogits,
  type VisualPrompt,
} from "@medfm/models";
import * as tf from "@tensorflow/tfjs";
import sharp from "sharp";

/** Options of {@link writeGradCam}. */
export interface WriteGradCamOptions {
  classifier: Classifier;
  /** A visual prompt the model was adapted with: the model sees (and is explained on) the prompted image. */
  prompt?: VisualPrompt;
  /** The image file to explain. */
  image: string;
  /** Model input size in pixels. */
  imageSize: number;
  classIndex: number;
  /** PNG file to write. */
  output: string;
  /** Weight of the image in the blend, 0..1 (default 0.5). */
  imageWeight?: number;
}

/** What {@link writeGradCam} drew. */
export interface WrittenGradCam {
  result: GradCamResult;
  /** The model's score (sigmoid or softmax) for the class. */
  score: number;
  width: number;
  height: number;
}

/**
 * Grad-CAM of one class on one image file, written as a PNG heatmap over the image at its own
 * size (the model sees it resized to `imageSize` with the weights' interpolation). Weights that
 * centre-crop (timm's `crop_pct` below 1) see the centre of the image only: the overlay is then
 * drawn on that part of the image, at its own size.
 */
export async function writeGradCam(options: WriteGradCamOptions): Promise<WrittenGradCam> {
  const { classifier, prompt, imageSize, classIndex } = options;
  const { resize: ownResize, ...normalisation } = loaderPreprocessing(
    classifier.preprocessing,
    imageSize,
  );
  const resize = { ...ownResize, width: imageSize, height: imageSize };
  const input = await readPixels(options.image, { channels: 3, resize });
  const values = new Float32Array(imageSize * imageSize * 3);
  // The model's own normalisation (ImageNet's for models that record none).
  normalizeInto(values, 0, input, normalisation);
  // The overlay is drawn on the part of the image the model saw, at its own size, as 8-bit RGB.
  const original = await readPixels(options.image, {
    channels: 3,
    crop: (width, height) => resizedRegion(resize, width, height),
  });
  const scale = 255 / original.maxValue;
  const rgb = new Uint8Array(original.width * original.height * 3);
  for (let i = 0; i < rgb.length / 3; i += 1) {
    for (let c = 0; c < 3; c += 1) {
      rgb[i * 3 + c] = Math.round(original.data[original.channels === 1 ? i : i * 3 + c] * scale);
    }
  }
  const image = tf.tidy(() => {
    const tensor = tf.tensor4d(values, [1, imageSize, imageSize, 3]);
    // A prompted model sees the prompted image: explain that.
    return prompt ? prompt.apply(tensor) : tensor;
  });
  try {
    const result = gradCam(classifier, image, {
      classIndex,
      outputSize: [original.height, original.width],
    });
    const score = tf.tidy(
      () =>
        scoresFromLogits(classifier.predict(image), classifier.head.task).dataSync()[classIndex],
    );
    const overlay = heatmapOverlay(
      { data: rgb, width: original.width, height: original.height, channels: 3 },
      result.heatmap,
      { imageWeight: options.imageWeight ?? 0.5 },
    );
    await mkdir(dirname(options.output), { recursive: true });
    await sharp(overlay.data, {
      raw: { width: overlay.width, height: overlay.height, channels: 3 },
    })
      .png()
      .toFile(options.output);
    return { result, score, width: overlay.width, height: overlay.height };
  } finally {
    image.dispose();
  }
}
