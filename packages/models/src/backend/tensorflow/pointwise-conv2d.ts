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

/**
 * The sizes of the convolution of an input of `inputShape` with a filter of `filterShape` under
 * tfjs's attributes, where it is pointwise and the filter's input channels are the input's;
 * undefined otherwise (`next` then reports any error).
 */
function pointwise(
  inputShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: Pick<tf.Conv2DAttrs, "strides" | "pad" | "dimRoundingMode"> & {
    dilations?: tf.Conv2DAttrs["dilations"];
  },
): Pointwise | undefined {
  if (filterShape[2] !== inputShape[3]) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
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
 * The sizes of a pointwise convolution's gradient, for a convolution of an input of
 * `inputShape` with a filter of `filterShape` (tfjs's gradient attributes), where `dy` is its
 * output's shape; undefined where the convolution is not pointwise or `dy` does not fit.
 */
function pointwiseGradient(
  inputShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  dy: tf.Tensor4D,
  attrs: Pick<tf.Conv2DBackpropFilterAttrs, "strides" | "pad" | "dimRoundingMode">,
): Pointwise | undefined {
  const sizes = pointwise(inputShape, filterShape, attrs);
  const expected = sizes && [sizes.batch, sizes.height, sizes.width, sizes.outChannels];
  return expected !== undefined && dy.shape.every((size, axis) => size === expected[axis])
    ? sizes
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

/** Whether a convolution kernel's two tensors are float32 NHWC ones (`dataFormat` unset or NHWC). */
const nhwcFloat32 = (
  dataFormat: string | undefined,
  ...tensors: Array<tf.Tensor | undefined>
): boolean =>
  (dataFormat === undefined || dataFormat === "NHWC") &&
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
      const attrs = parameters.attrs as unknown as tf.Conv2DAttrs;
      if (!nhwcFloat32(attrs.dataFormat, x, filter)) return next.kernelFunc(parameters);
      const input = x as tf.Tensor4D;
      const weights = filter as tf.Tensor4D;
      if (pointwise(input.shape, weights.shape, attrs) === undefined) {
        return next.kernelFunc(parameters);
      }
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
      const attrs = parameters.attrs as unknown as tf.Conv2DBackpropInputAttrs;
      if (!nhwcFloat32(attrs.dataFormat, dy, filter)) return next.kernelFunc(parameters);
      const gradient = dy as tf.Tensor4D;
      const weights = filter as tf.Tensor4D;
      if (pointwiseGradient(attrs.inputShape, weights.shape, gradient, attrs) === undefined) {
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
      const attrs = parameters.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      if (!nhwcFloat32(attrs.dataFormat, x, dy)) return next.kernelFunc(parameters);
      const input = x as tf.Tensor4D;
      const gradient = dy as tf.Tensor4D;
      const sizes = pointwiseGradient(input.shape, attrs.filterShape, gradient, attrs);
      if (sizes === undefined) return next.kernelFunc(parameters);
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
