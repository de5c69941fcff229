import { createLoader } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import type { BackbonePreprocessing } from "../backbones/backbone-spec";
import { type FeaturePreprocessing, withModelPreprocessing } from "./loader-normalisation";

/** Anything that turns normalised NHWC images into scores: a classifier or an adapted model. */
export interface ScoringModel {
  /** Eval-mode scores `[batch, classes]` (sigmoid or softmax). */
  predictScores(images: tf.Tensor4D): tf.Tensor2D;
  /**
   * The normalisation the weights expect (a {@link Classifier}'s): used when `preprocessing`
   * gives no `mean`/`std`, so a model never gets ImageNet's when it wants others.
   */
  readonly preprocessing?: BackbonePreprocessing;
}

/** Test-time augmentation: none, or the mean of the image's and its mirror image's scores. */
export type TestTimeAugmentation = "none" | "flip";

/** Progress of {@link predictImages}, after each batch. */
export interface PredictProgress {
  /** Images scored so far. */
  done: number;
  /** Images to score. */
  total: number;
}

/** Options of {@link predictImages}. */
export interface PredictImagesOptions {
  /** The model that scores the images. */
  model: ScoringModel;
  /** Folder the names are relative to. */
  dataRoot: string;
  /** Image names, relative to `dataRoot`; rows come back in this order. */
  names: readonly string[];
  /**
   * Image size, resize and normalisation: the ones the model was trained with. Without
   * `resize`, `mean` or `std`, the model's own preprocessing applies (its interpolation and
   * centre crop through `loaderResize`; ImageNet's, bilinear, no crop, for models that record
   * none).
   */
  preprocessing: FeaturePreprocessing;
  /** Images per forward pass (default 16). */
  batchSize?: number;
  /** `"flip"` averages the scores of each image and its horizontal mirror (default `"none"`). */
  tta?: TestTimeAugmentation;
  /** Called after each batch. */
  onProgress?: (progress: PredictProgress) => void;
}

/** Scores of a list of images. */
export interface Predictions {
  /** Image names, in row order. */
  names: string[];
  /** `names.length × numClasses` scores, row-major. */
  scores: Float32Array;
  /** Scores per image. */
  numClasses: number;
}

/**
 * Scores images in batches: decodes and normalises them with the `@medfm/data` loader (in
 * parallel, a bounded number of batches ahead), runs the model in eval mode and, with
 * `tta: "flip"`, averages each image's scores with its mirror image's. Unreadable images fail
 * with an error naming the file.
 */
export async function predictImages(options: PredictImagesOptions): Promise<Predictions> {
  const { model, names } = options;
  const tta = options.tta ?? "none";
  if (tta !== "none" && tta !== "flip") {
    throw new RangeError(`predictImages: tta must be "none" or "flip", got ${JSON.stringify(tta)}`);
  }
  if (names.length === 0) throw new RangeError("predictImages: no images to score");
  const preprocessing = withModelPreprocessing(options.preprocessing, model.preprocessing);
  const loader = createLoader({
    samples: names.map((name) => ({ name, labels: new Uint8Array(0) })),
    dataRoot: options.dataRoot,
    imageSize: preprocessing.imageSize,
    batchSize: options.batchSize ?? 16,
    resize: preprocessing.resize,
    channels: preprocessing.channels,
    mean: preprocessing.mean,
    std: preprocessing.std,
  });
  let scores: Float32Array | undefined;
  let numClasses = 0;
  let done = 0;
  for await (const batch of loader.epoch(0)) {
    const values = tf.tidy(() => {
      const images = tf.tensor4d(batch.images, batch.shape);
      const plain = model.predictScores(images);
      if (tta === "none") return plain.dataSync() as Float32Array;
      // Axis 2 of NHWC is the width: reversing it mirrors left–right.
      const mirrored = model.predictScores(tf.reverse(images, 2) as tf.Tensor4D);
      return tf.div(tf.add(plain, mirrored), 2).dataSync() as Float32Array;
    });
    if (scores === undefined) {
      numClasses = values.length / batch.names.length;
      scores = new Float32Array(names.length * numClasses);
    }
    scores.set(values, done * numClasses);
    done += batch.names.length;
    options.onProgress?.({ done, total: names.length });
  }
  return { names: [...names], scores: scores ?? new Float32Array(0), numClasses };
}
