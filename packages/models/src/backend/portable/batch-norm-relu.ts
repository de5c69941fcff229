import * as tf from "@tensorflow/tfjs";
import {
  type BatchNormReluAttrs,
  type ConcatBatchNormReluAttrs,
  MedfmBatchNormRelu,
  MedfmConcatBatchNormRelu,
} from "../kernel-names";
import type { BatchNormParameters } from "./conv2d-batch-norm-relu";

/**
 * `relu(batchNorm(x))` with running statistics as two tfjs ops: the portable
 * {@link MedfmBatchNormRelu}, and what the native backend's probe checks its kernel against.
 */
export function batchNormReluComposite(
  x: tf.Tensor,
  norm: BatchNormParameters,
  epsilon: number,
): tf.Tensor {
  return tf.tidy(() =>
    tf.relu(tf.batchNorm(x, norm.mean, norm.variance, norm.offset, norm.scale, epsilon)),
  );
}

/** {@link MedfmBatchNormRelu} as tfjs ops ({@link batchNormReluComposite}). Runs on any backend. */
export function portableBatchNormRelu(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmBatchNormRelu,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { x, scale, offset, mean, variance } = inputs as Record<string, tf.Tensor>;
      const { epsilon } = attrs as unknown as BatchNormReluAttrs;
      return batchNormReluComposite(
        x as tf.Tensor,
        {
          scale: scale as tf.Tensor1D,
          offset: offset as tf.Tensor1D,
          mean: mean as tf.Tensor1D,
          variance: variance as tf.Tensor1D,
        },
        epsilon,
      );
    },
  };
}

/** The `count` pieces `x0`, `x1`, … of a {@link MedfmConcatBatchNormRelu} call, in order. */
export function concatBatchNormReluPieces(
  inputs: Record<string, tf.Tensor | undefined>,
  count: number,
): Array<tf.Tensor | undefined> {
  return Array.from({ length: count }, (_, index) => inputs[`x${index}`]);
}

/**
 * {@link MedfmConcatBatchNormRelu} as tfjs ops: the concatenation of the pieces, then
 * {@link batchNormReluComposite}. Runs on any backend.
 */
export function portableConcatBatchNormRelu(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmConcatBatchNormRelu,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const named = inputs as Record<string, tf.Tensor | undefined>;
      const { count, epsilon } = attrs as unknown as ConcatBatchNormReluAttrs;
      const pieces = concatBatchNormReluPieces(named, count);
      const missing = pieces.indexOf(undefined);
      if (count < 1 || missing >= 0) {
        throw new RangeError(
          `${MedfmConcatBatchNormRelu}: count is ${count} but ${count < 1 ? "at least 1 piece is needed" : `input x${missing} is missing`}`,
        );
      }
      const { scale, offset, mean, variance } = named;
      const shapes = (pieces as tf.Tensor[]).map((piece) => piece.shape);
      const channels = shapes.reduce((sum, shape) => sum + (shape.at(-1) ?? 0), 0);
      const vectors = { scale, offset, mean, variance };
      const wrong = Object.entries(vectors).filter(
        ([, vector]) => vector?.rank !== 1 || vector.size !== channels,
      );
      if (wrong.length > 0) {
        throw new RangeError(
          `${MedfmConcatBatchNormRelu}: the pieces [${shapes.map((shape) => `[${shape.join(", ")}]`).join(", ")}] have ${channels} channels together but ${wrong.map(([name, vector]) => `${name} has shape [${vector?.shape.join(", ") ?? "missing"}]`).join(", ")}`,
        );
      }
      return tf.tidy(() =>
        batchNormReluComposite(
          pieces.length === 1 ? (pieces[0] as tf.Tensor) : tf.concat(pieces as tf.Tensor[], -1),
          {
            scale: scale as tf.Tensor1D,
            offset: offset as tf.Tensor1D,
            mean: mean as tf.Tensor1D,
            variance: variance as tf.Tensor1D,
          },
          epsilon,
        ),
      );
    },
  };
}
