import * as tf from "@tensorflow/tfjs";
import { MedfmGelu, MedfmScaledSoftmax } from "../../backend/kernel-names";
import { runMedfmKernel } from "../../backend/kernel-registry";

/** The MLP activations of the transformers here: `gelu` (timm, DINOv2) and `quick_gelu` (CLIP). */
export type TransformerActivation = "gelu" | "quick_gelu";

/**
 * Exact GELU, `x·Φ(x) = x/2·(1 + erf(x/√2))`, as `nn.GELU()` with its default: one
 * {@link MedfmGelu} kernel (ours on the native backend, forward and gradient one pass each; tfjs
 * ops elsewhere).
 */
export function gelu<T extends tf.Tensor>(x: T): T {
  return runMedfmKernel(MedfmGelu, { x }) as T;
}

/**
 * `softmax(scale·logits)` over the last axis, attention's scaled softmax: one
 * {@link MedfmScaledSoftmax} kernel (ours on the native backend, forward and gradient one pass
 * each, the scale inside; `mul` and `softmax` elsewhere).
 */
export function scaledSoftmax<T extends tf.Tensor>(logits: T, scale: number): T {
  return runMedfmKernel(MedfmScaledSoftmax, { logits }, { scale }) as T;
}

/** OpenAI CLIP's `quick_gelu`, `x·σ(1.702·x)`, as transformers' `QuickGELUActivation`. */
export function quickGelu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))) as T);
}

/** Applies an activation by name. */
export function applyActivation<T extends tf.Tensor>(x: T, activation: TransformerActivation): T {
  return activation === "quick_gelu" ? quickGelu(x) : gelu(x);
}
