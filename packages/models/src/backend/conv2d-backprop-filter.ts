import {
  BatchMatMul,
  backend_util,
  Conv2D,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  Reshape,
  Slice,
  type TensorInfo,
  Transpose,
} from "@tensorflow/tfjs";
import { runWasmKernel, type WasmKernelBackend } from "./run-wasm-kernel";

/**
 * The filter gradient of a 2-D convolution as one forward convolution, so XNNPACK does the work:
 * `dW[i, j, c, o] = Σ_{b, y, x} xPadded[b, y·s + i, x·s + j, c] · dy[b, y, x, o]` is a
 * convolution of the input, with channels as the batch and the batch as channels, by the output
 * gradient used as a filter, dilated by the stride.
 */
export const conv2DBackpropFilterKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as unknown as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as Conv2DBackpropFilterAttrs;
  const wasm = backend as unknown as WasmKernelBackend;
  const format = backend_util.convertConv2DDataFormat(dataFormat);
  if (format !== "channelsLast") {
    throw new Error(
      `wasm Conv2DBackpropFilter supports dataFormat 'NHWC' only, got '${dataFormat}'`,
    );
  }
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { filterHeight, filterWidth, strideHeight, strideWidth, outHeight, outWidth } = info;
  const [batch, inHeight, inWidth, inChannels] = x.shape as [number, number, number, number];
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // Padding at the far edges that makes the output exactly filterHeight × filterWidth; a negative
  // value means the last rows (columns) of x are never read by the forward convolution.
  let bottom = filterHeight + (outHeight - 1) * strideHeight - inHeight - top;
  let right = filterWidth + (outWidth - 1) * strideWidth - inWidth - left;
  if (
    filterHeight === 1 &&
    filterWidth === 1 &&
    strideHeight === 1 &&
    strideWidth === 1 &&
    top === 0 &&
    left === 0 &&
    outHeight === inHeight &&
    outWidth === inWidth
  ) {
    return pointwiseFilterGradient(x, dy, wasm);
  }
  const temporaries: TensorInfo[] = [];
  let input = x;
  if (bottom < 0 || right < 0) {
    const height = inHeight + Math.min(bottom, 0);
    const width = inWidth + Math.min(right, 0);
    input = runWasmKernel(Slice, { x }, wasm, {
      begin: [0, 0, 0, 0],
      size: [batch, height, width, inChannels],
    });
    temporaries.push(input);
    bottom = Math.max(bottom, 0);
    right = Math.max(right, 0);
  }
  try {
    const channelsAsBatch = runWasmKernel(Transpose, { x: input }, wasm, { perm: [3, 1, 2, 0] });
    temporaries.push(channelsAsBatch);
    const gradientAsFilter = runWasmKernel(Transpose, { x: dy }, wasm, { perm: [1, 2, 0, 3] });
    temporaries.push(gradientAsFilter);
    const product = runWasmKernel(Conv2D, { x: channelsAsBatch, filter: gradientAsFilter }, wasm, {
      strides: [1, 1],
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dataFormat: "NHWC",
      dilations: [strideHeight, strideWidth],
      dimRoundingMode: undefined,
    });
    temporaries.push(product);
    return runWasmKernel(Transpose, { x: product }, wasm, { perm: [1, 2, 0, 3] });
  } finally {
    for (const temporary of temporaries) wasm.disposeData(temporary.dataId);
  }
};

/**
 * A 1x1 stride-1 filter gradient is one matrix product, `xᵀ·dy` over the `batch·height·width`
 * rows. wasm's `BatchMatMul` is fast (XNNPACK) only without transposed operands, so the
 * narrower of the two is transposed explicitly: 2-3x faster than the convolution form here.
 */
function pointwiseFilterGradient(
  x: TensorInfo,
  dy: TensorInfo,
  wasm: WasmKernelBackend,
): TensorInfo {
  const [batch, height, width, inChannels] = x.shape as [number, number, number, number];
  const outChannels = dy.shape[3] as number;
  const rows = batch * height * width;
  const temporaries: TensorInfo[] = [];
  const keep = (tensor: TensorInfo) => {
    temporaries.push(tensor);
    return tensor;
  };
  try {
    const inputRows = keep(runWasmKernel(Reshape, { x }, wasm, { shape: [1, rows, inChannels] }));
    const gradientRows = keep(
      runWasmKernel(Reshape, { x: dy }, wasm, { shape: [1, rows, outChannels] }),
    );
    let product: TensorInfo;
    if (inChannels <= outChannels) {
      // xᵀ·dy: [1, C, rows]·[1, rows, O]
      const inputColumns = keep(
        runWasmKernel(Transpose, { x: inputRows }, wasm, { perm: [0, 2, 1] }),
      );
      product = keep(
        runWasmKernel(BatchMatMul, { a: inputColumns, b: gradientRows }, wasm, {
          transposeA: false,
          transposeB: false,
        }),
      );
    } else {
      // (dyᵀ·x)ᵀ: [1, O, rows]·[1, rows, C], then a filter-sized transpose.
      const gradientColumns = keep(
        runWasmKernel(Transpose, { x: gradientRows }, wasm, { perm: [0, 2, 1] }),
      );
      const transposed = keep(
        runWasmKernel(BatchMatMul, { a: gradientColumns, b: inputRows }, wasm, {
          transposeA: false,
          transposeB: false,
        }),
      );
      product = keep(runWasmKernel(Transpose, { x: transposed }, wasm, { perm: [0, 2, 1] }));
    }
    return runWasmKernel(Reshape, { x: product }, wasm, {
      shape: [1, 1, inChannels, outChannels],
    });
  } finally {
    for (const temporary of temporaries) wasm.disposeData(temporary.dataId);
  }
}

/** `Conv2DBackpropFilter` for the wasm backend, which tfjs 4.22 does not ship. */
export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: "wasm",
  kernelFunc: conv2DBackpropFilterKernel,
};
