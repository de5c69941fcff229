import * as tf from "@tensorflow/tfjs";
import type { NativeBackend } from "../native-ops";

/**
 * A 1×1 convolution of stride 1 with neither dilation nor padding is a matrix product of the
 * `[batch·height·width, in]` pixels with the `[in, out]` filter. TensorFlow's matrix products
 * (oneDNN's on x86) compute it and its two gradients 10–25% faster than `Conv2D`,
 * `Conv2DBackpropInput` and `Conv2DBackpropFilter` on DenseNet's shapes, and 2.2× faster for the
 * filter gradient of its last block (docs/native-backend.md). The three kernels below take those
 * convolutions as products and hand every other call to `next`, the kernel registered before
 * them (tfjs-node's, or another of ours). The forward pass and the input gradient are one
 * `BatchMatMulV2` each, of the NHWC tensor with the `[1, 1, in, out]` filter broadcast over
 * batch and rows (no reshape: 5–30% faster again than `MatMul` between `Reshape`s); the filter
 * gradient, a sum over every pixel, is one `MatMul` of `[pixels, channels]` views.
 */
interface Pointwise {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
}

/** The sizes of a pointwise convolution, or undefined where `info` describes another kind. */
function pointwise(info: tf.backend_util.Conv2DInfo): Pointwise | undefined {
  const { padInfo } = info;
  const plain =
    info.filterHeight === 1 &&
    info.filterWidth === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1 &&
    padInfo.top === 0 &&
    padInfo.bottom === 0 &&
    padInfo.left === 0 &&
    padInfo.right === 0 &&
    info.dataFormat === "channelsLast" &&
    info.outHeight === info.inHeight &&
    info.outWidth === info.inWidth;
  return plain
    ? {
        batch: info.batchSize,
        height: info.inHeight,
        width: info.inWidth,
        inChannels: info.inChannels,
        outChannels: info.outChannels,
      }
    : undefined;
}

/**
 * `a · b` over the last two axes, the leading ones broadcast, `b` optionally transposed, with
 * TensorFlow's `BatchMatMulV2` (float32).
 */
function batchMatMul(
  backend: NativeBackend,
  a: tf.Tensor,
  b: tf.Tensor,
  transposeB: boolean,
): tf.Tensor4D {
  const { binding } = backend;
  return backend.executeSingleOutput(
    "BatchMatMulV2",
    [
      { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
      { name: "adj_x", type: binding.TF_ATTR_BOOL, value: false },
      { name: "adj_y", type: binding.TF_ATTR_BOOL, value: transposeB },
    ],
    [a, b],
  ) as tf.Tensor4D;
}

/** `a · b` (each optionally transposed) with TensorFlow's `MatMul`, float32 matrices. */
function matMul(
  backend: NativeBackend,
  a: tf.Tensor,
  b: tf.Tensor,
  transposeA: boolean,
  transposeB: boolean,
): tf.Tensor2D {
  const { binding } = backend;
  return backend.executeSingleOutput(
    "MatMul",
    [
      { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
      { name: "transpose_a", type: binding.TF_ATTR_BOOL, value: transposeA },
      { name: "transpose_b", type: binding.TF_ATTR_BOOL, value: transposeB },
    ],
    [a, b],
  ) as tf.Tensor2D;
}

const float32 = (...tensors: Array<tf.Tensor | undefined>) =>
  tensors.every((tensor) => tensor?.dtype === "float32" && tensor.rank === 4);

/**
 * tfjs's `Conv2D` on TensorFlow: a pointwise convolution (see above) as `BatchMatMulV2`, the
 * rest as `next`.
 */
export function tensorflowPointwiseConv2D(next: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Conv2D,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { x, filter } = parameters.inputs as { x?: tf.Tensor4D; filter?: tf.Tensor4D };
      const { strides, pad, dataFormat, dilations, dimRoundingMode } =
        parameters.attrs as unknown as tf.Conv2DAttrs;
      if (!float32(x, filter) || (dataFormat !== undefined && dataFormat !== "NHWC")) {
        return next.kernelFunc(parameters);
      }
      const input = x as tf.Tensor4D;
      const weights = filter as tf.Tensor4D;
      const sizes =
        input.shape[3] === weights.shape[2]
          ? pointwise(
              tf.backend_util.computeConv2DInfo(
                input.shape,
                weights.shape,
                strides,
                dilations,
                pad,
                dimRoundingMode,
              ),
            )
          : undefined;
      if (sizes === undefined) return next.kernelFunc(parameters);
      return batchMatMul(parameters.backend as NativeBackend, input, weights, false);
    },
  };
}

/**
 * tfjs's `Conv2DBackpropInput` on TensorFlow: for a pointwise convolution, `dy · filterᵀ` as
 * `BatchMatMulV2`; the rest as `next`.
 */
export function tensorflowPointwiseConv2DBackpropInput(next: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropInput,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { dy, filter } = parameters.inputs as { dy?: tf.Tensor4D; filter?: tf.Tensor4D };
      const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
        parameters.attrs as unknown as tf.Conv2DBackpropInputAttrs;
      if (!float32(dy, filter) || (dataFormat !== undefined && dataFormat !== "NHWC")) {
        return next.kernelFunc(parameters);
      }
      const gradient = dy as tf.Tensor4D;
      const weights = filter as tf.Tensor4D;
      const sizes = pointwise(
        tf.backend_util.computeConv2DInfo(
          inputShape,
          weights.shape,
          strides,
          1,
          pad,
          dimRoundingMode,
        ),
      );
      if (
        sizes === undefined ||
        weights.shape[2] !== sizes.inChannels ||
        gradient.shape.some(
          (size, axis) =>
            size !== [sizes.batch, sizes.height, sizes.width, sizes.outChannels][axis],
        )
      ) {
        return next.kernelFunc(parameters);
      }
      return batchMatMul(parameters.backend as NativeBackend, gradient, weights, true);
    },
  };
}

/**
 * tfjs's `Conv2DBackpropFilter` on TensorFlow: for a pointwise convolution, `xᵀ · dy` as
 * `MatMul`; the rest as `next`.
 */
export function tensorflowPointwiseConv2DBackpropFilter(next: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropFilter,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { x, dy } = parameters.inputs as { x?: tf.Tensor4D; dy?: tf.Tensor4D };
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
        parameters.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      if (!float32(x, dy) || (dataFormat !== undefined && dataFormat !== "NHWC")) {
        return next.kernelFunc(parameters);
      }
      const input = x as tf.Tensor4D;
      const gradient = dy as tf.Tensor4D;
      const sizes = pointwise(
        tf.backend_util.computeConv2DInfo(
          input.shape,
          filterShape,
          strides,
          1,
          pad,
          dimRoundingMode,
        ),
      );
      if (
        sizes === undefined ||
        input.shape[3] !== filterShape[2] ||
        gradient.shape.some(
          (size, axis) =>
            size !== [sizes.batch, sizes.height, sizes.width, sizes.outChannels][axis],
        )
      ) {
        return next.kernelFunc(parameters);
      }
      const { batch, height, width, inChannels, outChannels } = sizes;
      return tf.tidy(() =>
        tf.reshape(
          matMul(
            parameters.backend as NativeBackend,
            tf.reshape(input, [batch * height * width, inChannels]),
            tf.reshape(gradient, [batch * height * width, outChannels]),
            true,
            false,
          ),
          [1, 1, inChannels, outChannels],
        ),
      );
    },
  };
}
