import type * as tf from "@tensorflow/tfjs";

/** Copies of the variables' values by key, to compare after training. */
export function snapshot(variables: Map<string, tf.Variable>): Map<string, Float32Array> {
  return new Map(
    [...variables].map(([key, variable]) => [key, variable.dataSync().slice() as Float32Array]),
  );
}

/** Keys whose values differ from `before`'s (or that `before` lacks). */
export function changedKeys(
  before: Map<string, Float32Array>,
  after: Map<string, tf.Variable>,
): string[] {
  return [...after]
    .filter(([key, variable]) => {
      const old = before.get(key);
      const now = variable.dataSync();
      return !old || old.some((value, index) => value !== now[index]);
    })
    .map(([key]) => key);
}
