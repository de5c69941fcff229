import { getKernel, type TensorInfo } from "@tensorflow/tfjs";

/** The part of the wasm backend a composite kernel uses: freeing its intermediate results. */
export interface WasmKernelBackend {
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Runs another kernel registered for the wasm backend, so composites stay inside wasm. */
export function runWasmKernel(
  kernelName: string,
  inputs: Record<string, TensorInfo>,
  backend: WasmKernelBackend,
  attrs: Record<string, unknown>,
): TensorInfo {
  const kernel = getKernel(kernelName, "wasm");
  if (kernel === undefined) {
    throw new Error(`the wasm backend has no '${kernelName}' kernel to build on`);
  }
  return kernel.kernelFunc({
    inputs,
    backend: backend as never,
    attrs: attrs as never,
  }) as TensorInfo;
}
