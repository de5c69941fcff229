import * as tf from "@tensorflow/tfjs";

/**
 * Whether tfjs is recording a gradient tape (inside `tf.grad`, `variableGrads`, `minimize`).
 * Inference-only kernels (fused ops without a gradient) run only when it is false. tfjs has no
 * public API for this: it reads the engine's internal `gradientDepth`.
 */
export function recordingGradients(): boolean {
  return (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
}
