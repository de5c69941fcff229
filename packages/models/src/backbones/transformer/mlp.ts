import type * as tf from "@tensorflow/tfjs";
import { applyActivation, type TransformerActivation } from "./activations";
import { addLinear, applyLinear, type Linear } from "./linear";

/** timm's `Mlp` (`fc1`, activation, `fc2`; dropout 0), the feed-forward of a transformer block. */
export interface Mlp {
  /** Expansion, `[dim, hidden]`. */
  fc1: Linear;
  /** Projection back, `[hidden, dim]`. */
  fc2: Linear;
}

/**
 * `fc2(activation(fc1(x)))` on the last axis; with `residual` (`x`'s shape), `residual` plus it,
 * the sum in `fc2`'s kernel.
 */
export function applyMlp<T extends tf.Tensor>(
  x: T,
  mlp: Mlp,
  activation: TransformerActivation = "gelu",
  residual?: T,
): T {
  // Exact GELU goes into fc1's kernel (fused on the native backend outside training).
  const hidden =
    activation === "gelu"
      ? applyLinear(x, mlp.fc1, "gelu")
      : applyActivation(applyLinear(x, mlp.fc1), activation);
  return residual === undefined
    ? applyLinear(hidden, mlp.fc2)
    : addLinear(residual, hidden, mlp.fc2);
}
