/**
 * How @medfm/models reaches a backend: the tfjs way, by kernel registration.
 *
 * - An op (`batchNormTraining`, `denseBlockTraining`, `sgd`'s step, the `Relu` gradient) calls
 *   `tf.engine().runKernel(name, inputs, attrs)` through {@link runMedfmKernel}, with kernel names
 *   from `kernel-names.ts`. A differentiable kernel has one gradient config
 *   (`tf.registerGradient`), itself running kernels by name; model code never asks which backend
 *   is active.
 * - `backend/portable/` implements every kernel with tfjs ops, registered for `cpu`, `wasm`,
 *   `webgl`, `webgpu` and any other backend (see `portableKernelConfigs`).
 * - `backend/tensorflow/` implements them over tfjs-node's native binding
 *   (`backendName: "tensorflow"`, see `tensorflowKernelConfigs`), choosing the fused TensorFlow
 *   op the build offers once, when the table is registered, and the portable composite where
 *   none is faster.
 * - `selectBackend` registers the table of the backend it activates ({@link registerMedfmKernels});
 *   {@link runMedfmKernel} does so on first use for a backend set without it.
 *
 * To add a kernel (an attention kernel for the ViT work, say): name it in
 * `kernel-names.ts` (`Medfm<Name>`, with its inputs, attrs and outputs in the JSDoc); write the
 * composite in `portable/<name>.ts` and list it in `portableKernelConfigs`; where a backend has
 * something faster, write `<backend>/<name>.ts` returning a `KernelConfig` for that backend and
 * add it to its table (the portable one stays the fallback for what it does not cover); if the
 * kernel is differentiable, add one `GradConfig` (`<name>-grad.ts`, running a `...Grad` kernel by
 * name) to {@link medfmGradientConfigs}; call it from the op with {@link runMedfmKernel}. Test it
 * on every backend against the portable composite (see `kernel-registry.test.ts`).
 */
import * as tf from "@tensorflow/tfjs";
import { attentionGradConfig } from "./attention-grad";
import { batchNormTrainingGradConfig } from "./batch-norm-training-grad";
import { fusedBatchNormGradConfig } from "./fused-batch-norm-grad";
import { geluGradConfig } from "./gelu-grad";
import { MedfmReluGrad } from "./kernel-names";
import { layerNormGradConfig } from "./layer-norm-grad";
import { linearGradConfig } from "./linear-grad";
import { activeNativeBackend } from "./native-ops";
import { portableKernelConfigs } from "./portable/portable-kernels";
import { reluGradConfig } from "./relu-grad";
import { scaledSoftmaxGradConfig } from "./scaled-softmax-grad";
import { tensorflowCapabilities, tensorflowKernelConfigs } from "./tensorflow/tensorflow-kernels";

/** The gradient configs @medfm/models registers, one per differentiated kernel. */
export const medfmGradientConfigs: readonly tf.GradConfig[] = [
  batchNormTrainingGradConfig,
  reluGradConfig,
  fusedBatchNormGradConfig,
  linearGradConfig,
  layerNormGradConfig,
  geluGradConfig,
  scaledSoftmaxGradConfig,
  attentionGradConfig,
];

/** Backend instances whose table is registered (a re-created backend is probed again). */
const registeredBackends = new WeakSet<object>();
/** Kernel functions of ours, so a second registration does not take one for tfjs's original. */
const ourKernelFunctions = new WeakSet<tf.KernelFunc>();
const originalsKey = Symbol.for("medfm.models.originalTensorflowKernels");

/** tfjs-node's own kernel that one of ours replaces, kept on the global object like tfjs's registry. */
function originalKernel(kernelName: string, backendName: string): tf.KernelConfig | undefined {
  const store = globalThis as unknown as Record<symbol, Map<string, tf.KernelConfig | undefined>>;
  store[originalsKey] ??= new Map();
  const originals = store[originalsKey];
  const key = `${backendName}_${kernelName}`;
  if (!originals.has(key)) {
    const current = tf.getKernel(kernelName, backendName);
    originals.set(
      key,
      current !== undefined && ourKernelFunctions.has(current.kernelFunc) ? undefined : current,
    );
  }
  return originals.get(key);
}

/** Registers `configs`, replacing what is registered under the same names. */
function registerKernelTable(configs: readonly tf.KernelConfig[]): void {
  for (const config of configs) {
    ourKernelFunctions.add(config.kernelFunc);
    const existing = tf.getKernel(config.kernelName, config.backendName);
    if (existing?.kernelFunc === config.kernelFunc) continue;
    if (existing !== undefined) tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
  }
}

/**
 * Registers @medfm/models' gradient configs and the kernel table of the active backend: on
 * tfjs-node's `tensorflow` backend the native table (probing once what the binding and the
 * TensorFlow build offer), on any other the portable composites. Idempotent per backend
 * instance. `selectBackend` calls it; call it yourself after `tf.setBackend` to pay the probe
 * before the first step rather than in it.
 */
export function registerMedfmKernels(): void {
  const backend = tf.backend() as object;
  if (registeredBackends.has(backend)) return;
  for (const config of medfmGradientConfigs) {
    if (tf.getGradient(config.kernelName) !== config) tf.registerGradient(config);
  }
  // The portable table for every backend tfjs knows, so a gradient config that runs a kernel
  // by name finds one after a plain `tf.setBackend`; the active backend's own table next.
  for (const name of Object.keys(tf.engine().registryFactory)) {
    if (tf.getKernel(MedfmReluGrad, name) === undefined) {
      registerKernelTable(portableKernelConfigs(name));
    }
  }
  const backendName = tf.getBackend();
  const native = activeNativeBackend();
  registerKernelTable(
    native !== undefined
      ? tensorflowKernelConfigs(tensorflowCapabilities(native), {
          maxPoolGrad: originalKernel(tf.MaxPoolGrad, backendName),
          softmax: originalKernel(tf.Softmax, backendName),
          conv2DBackpropFilter: originalKernel(tf.Conv2DBackpropFilter, backendName),
          conv2DBackpropInput: originalKernel(tf.Conv2DBackpropInput, backendName),
          conv2D: originalKernel(tf.Conv2D, backendName),
        })
      : portableKernelConfigs(backendName),
  );
  registeredBackends.add(backend);
}

/**
 * `tf.engine().runKernel(kernelName, inputs, attrs)` for a @medfm/models kernel, registering the
 * active backend's table first if it is not yet (see {@link registerMedfmKernels}).
 */
export function runMedfmKernel(
  kernelName: string,
  inputs: tf.NamedTensorMap,
  attrs: tf.NamedAttrMap = {},
): tf.Tensor | tf.Tensor[] {
  if (!registeredBackends.has(tf.backend() as object)) registerMedfmKernels();
  return tf.engine().runKernel(kernelName, inputs, attrs) as tf.Tensor | tf.Tensor[];
}
