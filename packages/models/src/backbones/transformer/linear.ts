import * as tf from "@tensorflow/tfjs";
import { MedfmLinear } from "../../backend/kernel-names";
import { runMedfmKernel } from "../../backend/kernel-registry";
import { recordingGradients } from "../../backend/recording-gradients";
import { gelu } from "./activations";

/** `nn.Linear` parameters: weight `[in, out]`, optional bias `[out]`. */
export interface Linear {
  /** Weight, stored `[in, out]` (torch: `[out, in]`). */
  weight: tf.Variable<tf.Rank.R2>;
  /** Bias, absent for `bias=False` layers (Swin's patch merging reduction). */
  bias: tf.Variable<tf.Rank.R1> | undefined;
}

/**
 * `nn.Linear` on the last axis of a tensor of any rank, optionally followed by exact GELU
 * (`activation: "gelu"`, as timm's `Mlp` applies it after `fc1`). With a bias, one
 * {@link MedfmLinear} kernel (oneDNN's fused inner product on the native backend, `matMul` and
 * `add` elsewhere); the GELU joins it outside gradient recording, and is the separate
 * {@link gelu} kernel inside it, whose gradient is one kernel too.
 */
export function applyLinear<T extends tf.Tensor>(
  x: T,
  layer: Linear,
  activation: "none" | "gelu" = "none",
): T {
  return linear(x, layer, activation, undefined) as T;
}

/**
 * `residual + nn.Linear(x)`, as a transformer block adds its attention's projection or its MLP's
 * `fc2` to the stream: `residual` has the layer's output shape. With a bias, the addition joins
 * the {@link MedfmLinear} kernel (on the native backend one oneDNN op instead of two).
 */
export function addLinear<T extends tf.Tensor>(residual: T, x: tf.Tensor, layer: Linear): T {
  return linear(x, layer, "none", residual) as T;
}

function linear(
  x: tf.Tensor,
  layer: Linear,
  activation: "none" | "gelu",
  residual: tf.Tensor | undefined,
): tf.Tensor {
  return tf.tidy(() => {
    const shape = x.shape;
    const inFeatures = shape[shape.length - 1] as number;
    const outFeatures = layer.weight.shape[1];
    const outShape = [...shape.slice(0, -1), outFeatures];
    if (residual !== undefined && residual.shape.join() !== outShape.join()) {
      throw new RangeError(
        `addLinear: residual of shape [${residual.shape.join(", ")}] for an output of shape [${outShape.join(", ")}]`,
      );
    }
    // A reshape is a TensorFlow op on the native backend: none for matrices.
    const matrix = (x.rank === 2 ? x : tf.reshape(x, [-1, inFeatures])) as tf.Tensor2D;
    let y: tf.Tensor;
    if (layer.bias === undefined) {
      y = tf.matMul(matrix, layer.weight);
      if (activation === "gelu") y = gelu(y);
      if (residual !== undefined) y = tf.add(tf.reshape(residual, y.shape), y);
    } else {
      const fuseGelu = activation === "gelu" && !recordingGradients();
      y = runMedfmKernel(
        MedfmLinear,
        {
          x: matrix,
          weight: layer.weight,
          bias: layer.bias,
          ...(residual === undefined
            ? {}
            : {
                residual: residual.rank === 2 ? residual : tf.reshape(residual, [-1, outFeatures]),
              }),
        },
        { activation: fuseGelu ? "gelu" : "none" },
      ) as tf.Tensor;
      if (activation === "gelu" && !fuseGelu) y = gelu(y);
    }
    return y.rank === outShape.length ? y : tf.reshape(y, outShape);
  });
}
