import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { provisionedNativePackage } from "../../native/provisioned-native-backend";

/** The provisioned tfjs-node package's directory, when `medfm backend install` has run. */
export const nativePackage = provisionedNativePackage();

/** The backends a kernel test runs on: cpu and wasm, and tensorflow where it is provisioned. */
export const backends = (nativePackage ? ["cpu", "wasm", "tensorflow"] : ["cpu", "wasm"]) as Array<
  "cpu" | "wasm" | "tensorflow"
>;

/** What `selectBackend({ env })` needs to find the provisioned native package. */
export const env = nativePackage ? { MEDFM_TFJS_NODE_PATH: nativePackage } : {};

/** A tensor of seeded normal values, `scale · N(0, 1) + shift`. */
export function normal(shape: number[], seed: string, scale = 1, shift = 0): tf.Tensor {
  const random = createRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: size }, () => random.normal() * scale + shift),
    shape,
  );
}

/** The largest absolute difference between two tensors of one shape. */
export function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] ?? Number.NaN);
}

/** The largest difference between `actual` and `expected`, relative to `expected`'s largest magnitude. */
export function relativeDifference(actual: tf.Tensor, expected: tf.Tensor): number {
  const scale = tf.tidy(() => tf.max(tf.abs(expected)).dataSync()[0] ?? Number.NaN);
  return maxDifference(actual, expected) / scale;
}
