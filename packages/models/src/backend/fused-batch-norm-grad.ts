import * as tf from "@tensorflow/tfjs";

/**
 * The gradient of `FusedBatchNorm` (`tf.batchNorm`) without tfjs's `Tile` of the inverse standard
 * deviation to the input's full shape (a slow loop on wasm) and without the two full-size
 * tensors (`x − mean`, `dy·scale`) tfjs computes eagerly and keeps until the whole backward pass
 * ends. Each gradient is computed only when the tape asks for it (frozen statistics need `dx`
 * alone). Same formulas on every backend: `dx = dy·scale·r`, `dmean = −scale·r·Σdy`,
 * `dvariance = −½·scale·r³·Σdy(x−mean)`, `dscale = r·Σdy(x−mean)`, `doffset = Σdy`, with
 * `r = 1/√(variance + ε)` and sums over the axes each parameter was broadcast along.
 */
export const fusedBatchNormGradConfig: tf.GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ["x", "mean", "variance", "scale"],
  gradFunc: (dy, saved, attrs) => {
    const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
    const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor?];
    const gradient = dy as tf.Tensor;
    // Parameter-sized values only: these live until the backward pass ends.
    const reciprocal = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
    const scaled = scale == null ? reciprocal : tf.mul(reciprocal, scale);
    /** Σ of `value` over the axes `shape` was broadcast along, reshaped to `shape`. */
    const reduceTo = (value: tf.Tensor, shape: number[]): tf.Tensor => {
      const axes = tf.broadcast_util.getReductionAxes(shape, x.shape);
      return tf.reshape(axes.length > 0 ? tf.sum(value, axes) : value, shape);
    };
    const centred = (shape: number[]) => reduceTo(tf.mul(gradient, tf.sub(x, mean)), shape);
    return {
      x: () => tf.mul(gradient, scaled),
      mean: () => tf.reshape(tf.mul(tf.neg(scaled), reduceTo(gradient, mean.shape)), mean.shape),
      variance: () =>
        tf.reshape(
          tf.mul(tf.mul(scaled, tf.mul(tf.square(reciprocal), -0.5)), centred(mean.shape)),
          mean.shape,
        ),
      scale: () => {
        const shape = (scale as tf.Tensor).shape;
        return tf.reshape(tf.mul(reciprocal, centred(shape)), shape);
      },
      offset: () => reduceTo(gradient, mean.shape),
    };
  },
};

/** Registers {@link fusedBatchNormGradConfig} in tfjs's (global) gradient registry. Idempotent. */
export function registerFusedBatchNormGrad(): void {
  if (tf.getGradient(tf.FusedBatchNorm) !== fusedBatchNormGradConfig) {
    tf.registerGradient(fusedBatchNormGradConfig);
  }
}
