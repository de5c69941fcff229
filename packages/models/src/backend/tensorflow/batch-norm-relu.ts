import type * as tf from "@tensorflow/tfjs";
import {
  type BatchNormReluAttrs,
  type ConcatBatchNormReluAttrs,
  MedfmBatchNormRelu,
  MedfmConcatBatchNormRelu,
} from "../kernel-names";
import { type NativeBackend, nativeBatchNormRelu, nativeConcatBatchNormRelu } from "../native-ops";
import { concatBatchNormReluPieces } from "../portable/batch-norm-relu";

/**
 * {@link MedfmBatchNormRelu} on TensorFlow as our kernel (`nativeBatchNormRelu`: one pass over
 * the data) for float32 tensors; anything else goes to `portable`. Register it only where the
 * binding has the kernel (`hasMedfmBatchNormRelu`).
 */
export function tensorflowBatchNormRelu(portable: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: MedfmBatchNormRelu,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const inputs = parameters.inputs as Record<string, tf.Tensor | undefined>;
      const { x, scale, offset, mean, variance } = inputs;
      const { epsilon } = parameters.attrs as unknown as BatchNormReluAttrs;
      const channels = x === undefined || x.rank < 1 ? -1 : x.shape[x.rank - 1];
      const vectors = [scale, offset, mean, variance];
      if (
        x === undefined ||
        x.dtype !== "float32" ||
        vectors.some(
          (vector) => vector?.rank !== 1 || vector.size !== channels || vector.dtype !== "float32",
        )
      ) {
        return portable.kernelFunc({ ...parameters, backend: parameters.backend });
      }
      return nativeBatchNormRelu(
        parameters.backend as NativeBackend,
        x,
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

/**
 * {@link MedfmConcatBatchNormRelu} on TensorFlow as our kernel (`nativeConcatBatchNormRelu`: one
 * pass over the pieces, no concatenation) for float32 pieces of one rank with channels last and
 * float32 vectors as long as their channels together; anything else (a shape error included)
 * goes to `portable`, whose ops say what is wrong. Register it only where the binding has the
 * kernel (`hasMedfmConcatBatchNormRelu`).
 */
export function tensorflowConcatBatchNormRelu(portable: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: MedfmConcatBatchNormRelu,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const inputs = parameters.inputs as Record<string, tf.Tensor | undefined>;
      const { count, epsilon } = parameters.attrs as unknown as ConcatBatchNormReluAttrs;
      const pieces = concatBatchNormReluPieces(inputs, count);
      const { scale, offset, mean, variance } = inputs;
      const first = pieces[0];
      const leading = first === undefined ? [] : first.shape.slice(0, -1);
      const fits = (piece: tf.Tensor | undefined): piece is tf.Tensor =>
        piece !== undefined &&
        piece.dtype === "float32" &&
        piece.rank >= 1 &&
        piece.rank === first?.rank &&
        piece.shape[piece.rank - 1] >= 1 &&
        leading.every((size, axis) => piece.shape[axis] === size);
      const channels = pieces.reduce((sum, piece) => sum + (piece?.shape.at(-1) ?? 0), 0);
      if (
        count < 1 ||
        !pieces.every(fits) ||
        [scale, offset, mean, variance].some(
          (vector) => vector?.rank !== 1 || vector.size !== channels || vector.dtype !== "float32",
        )
      ) {
        return portable.kernelFunc({ ...parameters, backend: parameters.backend });
      }
      return nativeConcatBatchNormRelu(
        parameters.backend as NativeBackend,
        pieces,
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
