import {
  backend_util,
  Conv2D,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  Reverse,
  type TensorInfo,
  Transpose,
} from "@tensorflow/tfjs";
import { runWasmKernel, type WasmKernelBackend } from "./run-wasm-kernel";

/**
 * The input gradient of a stride-1 2-D convolution as one forward convolution, so XNNPACK does
 * the work (tfjs's wasm kernel is a plain loop): `dx` is `dy` convolved with the filter flipped
 * in both spatial axes and with its channel axes swapped, padded by `filterSize - 1 - pad`.
 * Other strides and paddings go to `fallback`, tfjs's own kernel.
 */
export function createConv2DBackpropInputKernel(fallback: KernelFunc | undefined): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs as unknown as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
      attrs as unknown as Conv2DBackpropInputAttrs;
    const wasm = backend as unknown as WasmKernelBackend;
    const format = backend_util.convertConv2DDataFormat(dataFormat);
    const info = backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      format,
    );
    const { filterHeight, filterWidth, strideHeight, strideWidth, inHeight, inWidth } = info;
    const top = filterHeight - 1 - info.padInfo.top;
    const left = filterWidth - 1 - info.padInfo.left;
    const bottom = inHeight - info.outHeight - top + filterHeight - 1;
    const right = inWidth - info.outWidth - left + filterWidth - 1;
    const direct =
      format === "channelsLast" &&
      strideHeight === 1 &&
      strideWidth === 1 &&
      Math.min(top, left, bottom, right) >= 0;
    if (!direct) {
      if (fallback === undefined) {
        throw new Error(
          `wasm Conv2DBackpropInput: strides [${strides}] with ${dataFormat} need tfjs's own kernel, which is missing`,
        );
      }
      return fallback(args);
    }
    const temporaries: TensorInfo[] = [];
    try {
      const flipped = runWasmKernel(Reverse, { x: filter }, wasm, { dims: [0, 1] });
      temporaries.push(flipped);
      const swapped = runWasmKernel(Transpose, { x: flipped }, wasm, { perm: [0, 1, 3, 2] });
      temporaries.push(swapped);
      return runWasmKernel(Conv2D, { x: dy, filter: swapped }, wasm, {
        strides: [1, 1],
        pad: [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ],
        dataFormat: "NHWC",
        dilations: [1, 1],
        dimRoundingMode: undefined,
      });
    } finally {
      for (const temporary of temporaries) wasm.disposeData(temporary.dataId);
    }
  };
}

/**
 * `Conv2DBackpropInput` for the wasm backend through XNNPACK, with tfjs's kernel (`fallback`) for
 * strides above 1; its setup (binding the wasm function) runs when the backend initialises.
 */
export function conv2DBackpropInputConfig(fallback: KernelConfig | undefined): KernelConfig {
  return {
    kernelName: Conv2DBackpropInput,
    backendName: "wasm",
    kernelFunc: createConv2DBackpropInputKernel(fallback?.kernelFunc),
    ...(fallback?.setupFunc ? { setupFunc: fallback.setupFunc } : {}),
  };
}
