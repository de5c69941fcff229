import * as tf from "@tensorflow/tfjs";

/** `nn.Linear` parameters: weight `[in, out]`, optional bias `[out]`. */
export interface Linear {
  /** Weight, stored `[in, out]` (torch: `[out, in]`). */
  weight: tf.Variable<tf.Rank.R2>;
  /** Bias, absent for `bias=False` layers (Swin's patch merging reduction). */
  bias: tf.Variable<tf.Rank.R1> | undefined;
}

/** `nn.Linear` on the last axis of a tensor of any rank. */
export function applyLinear<T extends tf.Tensor>(x: T, layer: Linear): T {
  return tf.tidy(() => {
    const shape = x.shape;
    const inFeatures = shape[shape.length - 1];
    const outFeatures = layer.weight.shape[1];
    let y: tf.Tensor = tf.matMul(tf.reshape(x, [-1, inFeatures]) as tf.Tensor2D, layer.weight);
    if (layer.bias !== undefined) y = tf.add(y, layer.bias);
    return tf.reshape(y, [...shape.slice(0, -1), outFeatures]) as T;
  });
}
