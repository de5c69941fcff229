import { getKernel, type KernelConfig, registerKernel, unregisterKernel } from "@tensorflow/tfjs";
import { conv2DBackpropFilterConfig } from "./conv2d-backprop-filter";

/** The kernels this package adds to (or replaces in) tfjs's wasm backend, by name. */
export const wasmKernelConfigs: readonly KernelConfig[] = [conv2DBackpropFilterConfig];

/**
 * Registers the kernels DenseNet training needs on the `wasm` backend: the ones tfjs 4.22 lacks
 * (`Conv2DBackpropFilter`) and faster replacements. tfjs keeps its kernel registry on the global
 * object, so this is idempotent across copies of the package. `selectBackend` calls it; call it
 * yourself only when you set the wasm backend without `selectBackend`.
 */
export function registerWasmKernels(): void {
  for (const config of wasmKernelConfigs) {
    const existing = getKernel(config.kernelName, "wasm");
    if (existing?.kernelFunc === config.kernelFunc) continue;
    if (existing !== undefined) unregisterKernel(config.kernelName, "wasm");
    registerKernel(config);
  }
}
