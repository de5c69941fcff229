import type * as tf from "@tensorflow/tfjs";
import { MedfmLayerNorm } from "../../backend/kernel-names";
import { runMedfmKernel } from "../../backend/kernel-registry";

/** `nn.LayerNorm` parameters. */
export interface LayerNorm {
  /** Scale γ. */
  weight: tf.Variable<tf.Rank.R1>;
  /** Shift β. */
  bias: tf.Variable<tf.Rank.R1>;
}

/**
 * `nn.LayerNorm` over the last axis: biased variance, eps inside the square root (torch's). One
 * {@link MedfmLayerNorm} kernel: oneDNN's layer norm on the native backend, tfjs ops elsewhere.
 */
export function applyLayerNorm<T extends tf.Tensor>(x: T, norm: LayerNorm, eps = 1e-5): T {
  return runMedfmKernel(
    MedfmLayerNorm,
    { x, scale: norm.weight, offset: norm.bias },
    { epsilon: eps },
  ) as T;
}
