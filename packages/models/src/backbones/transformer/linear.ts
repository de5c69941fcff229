import * as tf from "@tensorflow/tfjs";
import { exactGelu } from "../../backend/exact-gelu";
import { MedfmLinear } from "../../backend/kernel-names";
import { runMedfmKernel } from "../../backend/kernel-registry";
import { recordingGradients } from "../../backend/recording-gradients";

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
 * `add` elsewhere); the GELU joins it outside gradient recording, and is the separate composite
 * inside it, so training differentiates the same ops as before.
 */
export function applyLinear<T extends tf.Tensor>(
  x: T,
  layer: Linear,
  activation: "none" | "gelu" = "none",
): T {
  return tf.tidy(() => {
    const shape = x.shape;
    const inFeatures = shape[shape.length - 1];
    const outFeatures = layer.weight.shape[1];
    const matrix = tf.reshape(x, [-1, inFeatures]) as tf.Tensor2D;
    let y: tf.Tensor;
    if (layer.bias === undefined) {
      y = tf.matMul(matrix, layer.weight);
      if (activation === "gelu") y = exactGelu(y);
    } else {
      const fuseGelu = activation === "gelu" && !recordingGradients();
      y = runMedfmKernel(
        MedfmLinear,
        { x: matrix, weight: layer.weight, bias: layer.bias },
        { activation: fuseGelu ? "gelu" : "none" },
      ) as tf.Tensor;
      if (activation === "gelu" && !fuseGelu) y = exactGelu(y);
    }
    return tf.reshape(y, [...shape.slice(0, -1), outFeatures]) as T;
  });
}
