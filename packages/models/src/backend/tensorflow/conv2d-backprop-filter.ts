import * as tf from "@tensorflow/tfjs";
import { type NativeBackend, nativeConv2DBackpropFilter } from "../native-ops";

/**
 * Which kernel computes a stride-1 convolution's filter gradient on the `tensorflow` backend:
 * ours (`MedfmConv2DBackpropFilter`) or TensorFlow's `Conv2DBackpropFilter` (oneDNN on x86).
 */
export type FilterGradientChoice = "medfm" | "tensorflow";

/** The environment variable that overrides {@link chooseFilterGradient}'s choice. */
export const FILTER_GRADIENT_VARIABLE = "MEDFM_FILTER_GRADIENT";

/**
 * The filter-gradient kernel for a CPU with these `/proc/cpuinfo` flags (undefined: unknown),
 * unless `setting` (the value of `MEDFM_FILTER_GRADIENT`: `medfm`, `tensorflow` or `auto`) names
 * one. `auto` (or unset) picks ours on x86 CPUs with AVX2 and FMA but no AVX-512: there oneDNN's
 * kernel is 1.1–3.9× slower than ours on DenseNet's shapes (an AMD EPYC), where on an AVX-512
 * Xeon it was 2.5× faster than ours at 56×56 (docs/native-backend.md). The choice depends only
 * on the CPU and the setting, never on a timing, so a run on one machine is repeatable.
 *
 * @throws Error naming the variable and its value when `setting` is none of the three.
 */
export function chooseFilterGradient(
  cpuFlags: ReadonlySet<string> | undefined,
  setting: string | undefined,
): FilterGradientChoice {
  return chooseGradientKernel(
    FILTER_GRADIENT_VARIABLE,
    "a filter-gradient kernel",
    cpuFlags,
    setting,
  );
}

/**
 * The rule {@link chooseFilterGradient} and `chooseInputGradient` share: `medfm` or `tensorflow`
 * when `setting` (the value of `variable`) names one, else (`auto` or unset) `medfm` on x86 CPUs
 * with AVX2 and FMA but no AVX-512, where our kernels beat oneDNN's, and `tensorflow` elsewhere.
 *
 * @throws Error naming `variable` and its value when `setting` is none of medfm, tensorflow, auto.
 */
export function chooseGradientKernel(
  variable: string,
  what: string,
  cpuFlags: ReadonlySet<string> | undefined,
  setting: string | undefined,
): FilterGradientChoice {
  const value = setting?.trim().toLowerCase() ?? "";
  if (value === "medfm" || value === "tensorflow") return value;
  if (value !== "" && value !== "auto") {
    throw new Error(
      `${variable}=${JSON.stringify(setting)} is not ${what}: use medfm, tensorflow or auto`,
    );
  }
  if (cpuFlags === undefined) return "tensorflow";
  return cpuFlags.has("avx2") && cpuFlags.has("fma") && !cpuFlags.has("avx512f")
    ? "medfm"
    : "tensorflow";
}

/**
 * The flags of the first processor in `/proc/cpuinfo` (Linux), else undefined: off Linux, in a
 * browser, or where the file cannot be read.
 */
export function cpuFlags(): ReadonlySet<string> | undefined {
  const process = (
    globalThis as {
      process?: { getBuiltinModule?: (name: string) => unknown; platform?: string };
    }
  ).process;
  if (process?.platform !== "linux" || typeof process.getBuiltinModule !== "function") {
    return undefined;
  }
  const fs = process.getBuiltinModule("node:fs") as
    | { readFileSync(path: string, encoding: "utf8"): string }
    | undefined;
  try {
    const line = fs?.readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:(.*)$/m)?.[1];
    return line === undefined ? undefined : new Set(line.trim().split(/\s+/));
  } catch {
    return undefined;
  }
}

/**
 * tfjs's `Conv2DBackpropFilter` kernel (what tfjs's `conv2d` gradient and DenseNet's training
 * block run) on TensorFlow with our kernel ({@link nativeConv2DBackpropFilter}) for float32 NHWC
 * convolutions of stride 1, any filter size and padding (`same`, `valid`, a number or explicit
 * pads, which tfjs-node's kernel refuses); others go to `original`, tfjs-node's own kernel.
 * Register it where the kernel passed its probe and {@link chooseFilterGradient} picks it.
 */
export function tensorflowConv2DBackpropFilter(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropFilter,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { x, dy } = parameters.inputs as { x: tf.Tensor4D; dy: tf.Tensor4D };
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
        parameters.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      if (
        x.dtype !== "float32" ||
        dy.dtype !== "float32" ||
        x.rank !== 4 ||
        dy.rank !== 4 ||
        (dataFormat !== undefined && dataFormat !== "NHWC")
      ) {
        return original.kernelFunc(parameters);
      }
      const info = tf.backend_util.computeConv2DInfo(
        x.shape,
        filterShape,
        strides,
        1,
        pad,
        dimRoundingMode,
      );
      const { top, left } = info.padInfo;
      if (
        info.strideHeight !== 1 ||
        info.strideWidth !== 1 ||
        top < 0 ||
        left < 0 ||
        dy.shape[0] !== x.shape[0] ||
        dy.shape[1] !== info.outHeight ||
        dy.shape[2] !== info.outWidth ||
        dy.shape[3] !== filterShape[3] ||
        x.shape[3] !== filterShape[2]
      ) {
        return original.kernelFunc(parameters);
      }
      return nativeConv2DBackpropFilter(
        parameters.backend as NativeBackend,
        x,
        dy,
        [info.filterHeight, info.filterWidth],
        top,
        left,
      );
    },
  };
}
