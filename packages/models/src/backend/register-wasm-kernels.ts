import {
  Conv2DBackpropInput,
  findBackendFactory,
  getKernel,
  type KernelConfig,
  registerKernel,
  unregisterKernel,
} from "@tensorflow/tfjs";
import { conv2DBackpropFilterConfig } from "./conv2d-backprop-filter";
import { conv2DBackpropInputConfig } from "./conv2d-backprop-input";

const originalsKey = Symbol.for("medfm.models.originalWasmKernels");

/**
 * tfjs's own wasm kernels that ours replace, kept on the global object (like tfjs's registry)
 * so a second copy of this package falls back to tfjs's kernel, not to the first copy's.
 */
function originalKernel(kernelName: string): KernelConfig | undefined {
  const store = globalThis as unknown as Record<symbol, Map<string, KernelConfig | undefined>>;
  store[originalsKey] ??= new Map();
  const originals = store[originalsKey];
  if (!originals.has(kernelName)) originals.set(kernelName, getKernel(kernelName, "wasm"));
  return originals.get(kernelName);
}

/** The kernels this package adds to, or replaces in, tfjs's wasm backend. */
export function wasmKernelConfigs(): KernelConfig[] {
  return [
    conv2DBackpropFilterConfig,
    conv2DBackpropInputConfig(originalKernel(Conv2DBackpropInput)),
  ];
}

let registered: KernelConfig[] | undefined;

/**
 * Registers the kernels DenseNet training needs on the `wasm` backend: `Conv2DBackpropFilter`,
 * which tfjs 4.22 lacks, and an XNNPACK `Conv2DBackpropInput` in place of tfjs's plain loop.
 * Idempotent. `selectBackend` calls it; call it yourself only when you set the wasm backend
 * without `selectBackend`.
 */
export function registerWasmKernels(): void {
  if (findBackendFactory("wasm") === null) {
    throw new Error(
      "registerWasmKernels: import '@tensorflow/tfjs-backend-wasm' first (or use selectBackend)",
    );
  }
  registered ??= wasmKernelConfigs();
  for (const config of registered) {
    const existing = getKernel(config.kernelName, "wasm");
    if (existing?.kernelFunc === config.kernelFunc) continue;
    if (existing !== undefined) unregisterKernel(config.kernelName, "wasm");
    registerKernel(config);
  }
}
