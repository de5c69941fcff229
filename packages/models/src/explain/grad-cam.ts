import * as tf from "@tensorflow/tfjs";
import type { Classifier } from "../classifier";

/** Options of {@link gradCam}. */
export interface GradCamOptions {
  /** Index of the class whose logit is explained. */
  classIndex: number;
  /** Size `[height, width]` of the returned heatmap (default: the input image's size). */
  outputSize?: readonly [number, number];
}

/** A Grad-CAM heatmap of one image for one class. */
export interface GradCamResult {
  /** `height × width` values in [0, 1] (min–max scaled), row-major; all 0 when the map is flat. */
  heatmap: Float32Array;
  /** Heatmap height. */
  height: number;
  /** Heatmap width. */
  width: number;
  /** The class's map at feature-map resolution before scaling (ReLU of the weighted sum). */
  featureMap: { values: Float32Array; height: number; width: number };
  /** The explained class's logit. */
  logit: number;
  /** The brightest heatmap pixel (the first pixel when the map is flat). */
  peak: { x: number; y: number };
  /**
   * True when the map does not vary (a 1×1 feature map, or no positive evidence anywhere):
   * the heatmap is then all 0 and says nothing about where the evidence lies.
   */
  flat: boolean;
}

/**
 * Grad-CAM (Selvaraju et al. 2017) on the last dense block: the backbone's final feature map
 * `A` (after the last norm and ReLU, as pytorch-grad-cam's `model.features[-1]` target for
 * DenseNet), weighted per channel by the spatial mean of ∂logit/∂A, summed over channels,
 * passed through ReLU, upsampled bilinearly to the image size and min–max scaled to [0, 1].
 * `image` is one normalised NHWC image `[1, height, width, channels]`; the model runs in eval
 * mode and no running statistic moves.
 */
export function gradCam(
  classifier: Classifier,
  image: tf.Tensor4D,
  options: GradCamOptions,
): GradCamResult {
  const [batch, inputHeight, inputWidth] = image.shape;
  if (batch !== 1) throw new RangeError(`gradCam: expected one image, got a batch of ${batch}`);
  const classes = classifier.head.numClasses;
  const { classIndex } = options;
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= classes) {
    throw new RangeError(
      `gradCam: classIndex must be an integer in [0, ${classes - 1}], got ${classIndex}`,
    );
  }
  const [height, width] = options.outputSize ?? [inputHeight, inputWidth];
  return tf.tidy(() => {
    const activations = classifier.featureMap(image, { training: false });
    const logitOf = (featureMap: tf.Tensor4D): tf.Scalar =>
      tf.sum(
        tf.slice(
          classifier.forwardFromFeatureMap(featureMap, { training: false }),
          [0, classIndex],
          [1, 1],
        ),
      ) as tf.Scalar;
    const { value, grad } = tf.valueAndGrad(logitOf)(activations);
    const channelWeights = tf.mean(grad, [1, 2], true);
    const cam = tf.relu(tf.sum(tf.mul(activations, channelWeights), 3, true)) as tf.Tensor4D;
    const upsampled = tf.image.resizeBilinear(cam, [height, width], false, true);
    const low = tf.min(upsampled);
    const range = tf.sub(tf.max(upsampled), low);
    const values = upsampled.dataSync() as Float32Array;
    const rangeValue = range.dataSync()[0];
    const lowValue = low.dataSync()[0];
    const heatmap = new Float32Array(values.length);
    let peakIndex = 0;
    if (rangeValue > 0) {
      for (let i = 0; i < values.length; i += 1) {
        heatmap[i] = (values[i] - lowValue) / rangeValue;
        if (heatmap[i] > heatmap[peakIndex]) peakIndex = i;
      }
    }
    return {
      heatmap,
      height,
      width,
      featureMap: {
        values: cam.dataSync() as Float32Array,
        height: cam.shape[1],
        width: cam.shape[2],
      },
      logit: value.dataSync()[0],
      peak: { x: peakIndex % width, y: Math.floor(peakIndex / width) },
      flat: !(rangeValue > 0),
    };
  });
}
