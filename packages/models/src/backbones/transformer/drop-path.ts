import type { Random } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";

/**
 * timm's `DropPath` (scale_by_keep): each sample's residual branch (leading axis) kept with
 * probability 1 − rate and then scaled by 1/(1 − rate), else zeroed. Draws one number per sample.
 */
export function dropPath<T extends tf.Tensor>(branch: T, rate: number, random: Random): T {
  const keep = 1 - rate;
  const batch = branch.shape[0];
  const scales = new Float32Array(batch);
  for (let index = 0; index < batch; index += 1) {
    scales[index] = random.next() < keep ? 1 / keep : 0;
  }
  const shape = [batch, ...new Array<number>(branch.rank - 1).fill(1)];
  return tf.tidy(() => tf.mul(branch, tf.tensor(scales, shape)) as T);
}

/** The rate of block `index` of `total`: torch.linspace(0, rate, total), as timm assigns it. */
export function dropPathRateOfBlock(rate: number, index: number, total: number): number {
  return total > 1 ? (rate * index) / (total - 1) : 0;
}
