import * as tf from "@tensorflow/tfjs";
import { type NativeBackend, nativeConv2DBackpropInputAsConv2D } from "../native-ops";
import { chooseGradientKernel, type FilterGradientChoice } from "./conv2d-backprop-filter";

/**
 * How a stride-1 convolution's input gradient is computed on the `tensorflow` backend: ours
 * (`medfm`: a forward `Conv2D` with the flipped, transposed filter) or TensorFlow's
 * `Conv2DBackpropInput` (oneDNN on x86).
 */
export type InputGradientChoice = FilterGradientChoice;

/** The environment variable that overrides {@link chooseInputGradient}'s choice. */
export const INPUT_GRADIENT_VARIABLE = "MEDFM_INPUT_GRADIENT";

/**
 * Below this many output positions (batch × height × width) a filter larger than 1×1 stays with
 * TensorFlow's kernel: there the filter's flip and transpose (one or two more ops) cost more
 * than the forward convolution saves. Measured on an AMD EPYC (docs/native-backend.md): DenseNet's 3×3
 * 32→128 input gradient at batch 4 is 1.5–2.3× faster as a forward convolution at 14×14 (784
 * positions) and above, and 2× slower at 7×7 (196).
 */
export const INPUT_GRADIENT_MIN_POSITIONS = 512;

/**
 * The input-gradient kernel for a CPU with these `/proc/cpuinfo` flags (undefined: unknown),
 * unless `setting` (the value of `MEDFM_INPUT_GRADIENT`: `medfm`, `tensorflow` or `auto`) names
 * one. `auto` (or unset) picks ours on x86 CPUs with AVX2 and FMA but no AVX-512, the rule of
 * `chooseFilterGradient`: there oneDNN's `Conv2DBackpropInput` is 1.2–2.4× slower than its
 * forward convolution on DenseNet's shapes. On AVX-512 Xeons oneDNN's kernel was already 3.6×
 * faster than on that CPU, and the forward form was not timed there, so it stays. The choice
 * depends only on the CPU and the setting, never on a timing, so a run is repeatable.
 *
 * @throws Error naming the variable and its value when `setting` is none of the three.
 */
export function chooseInputGradient(
  cpuFlags: ReadonlySet<string> | undefined,
  setting: string | undefined,
): InputGradientChoice {
  return chooseGradientKernel(
    INPUT_GRADIENT_VARIABLE,
    "an input-gradient kernel",
    cpuFlags,
    setting,
  );
}

/**
 * The padding of the forward convolution that computes a stride-1 input gradient,
 * `[top, bottom, left, right]`, or undefined where one side would be negative (a forward
 * padding larger than the filter allows): `filterSize − 1 − pad` before, and after whatever
 * makes the output the input's size.
 */
export function inputGradientPadding(
  info: tf.backend_util.Conv2DInfo,
): [number, number, number, number] | undefined {
  const top = info.filterHeight - 1 - info.padInfo.top;
  const left = info.filterWidth - 1 - info.padInfo.left;
  const bottom = info.inHeight - info.outHeight - top + info.filterHeight - 1;
  const right = info.inWidth - info.outWidth - left + info.filterWidth - 1;
  return Math.min(top, bottom, left, right) < 0 ? undefined : [top, bottom, left, right];
}

/**
 * tfjs's `Conv2DBackpropInput` kernel (what tfjs's `conv2d` gradient and DenseNet's training
 * block run) on TensorFlow as a forward convolution ({@link nativeConv2DBackpropInputAsConv2D})
 * for float32 NHWC convolutions of stride 1 with any padding (`same`, `valid`, a number or
 * explicit pads, which tfjs-node's kernel refuses), 1×1 filters at any size and larger ones from
 * {@link INPUT_GRADIENT_MIN_POSITIONS} output positions; others go to `original`, tfjs-node's
 * own kernel. Register it where {@link chooseInputGradient} picks it. `medfmFlip`: the binding
 * has our `MedfmFlipSwapFilter` op (one op for the filter's flip and transpose).
 */
export function tensorflowConv2DBackpropInput(
  original: tf.KernelConfig,
  medfmFlip = false,
): tf.KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropInput,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { dy, filter } = parameters.inputs as { dy: tf.Tensor4D; filter: tf.Tensor4D };
      const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
        parameters.attrs as unknown as tf.Conv2DBackpropInputAttrs;
      if (
        dy.dtype !== "float32" ||
        filter.dtype !== "float32" ||
        dy.rank !== 4 ||
        filter.rank !== 4 ||
        (dataFormat !== undefined && dataFormat !== "NHWC")
      ) {
        return original.kernelFunc(parameters);
      }
      const info = tf.backend_util.computeConv2DInfo(
        inputShape,
        filter.shape,
        strides,
        1,
        pad,
        dimRoundingMode,
      );
      const pads = inputGradientPadding(info);
      const pointwise = info.filterHeight === 1 && info.filterWidth === 1;
      if (
        pads === undefined ||
        info.strideHeight !== 1 ||
        info.strideWidth !== 1 ||
        dy.shape[0] !== info.batchSize ||
        dy.shape[1] !== info.outHeight ||
        dy.shape[2] !== info.outWidth ||
        dy.shape[3] !== info.outChannels ||
        filter.shape[2] !== info.inChannels ||
        (!pointwise &&
          info.batchSize * info.outHeight * info.outWidth < INPUT_GRADIENT_MIN_POSITIONS)
      ) {
        return original.kernelFunc(parameters);
      }
      return nativeConv2DBackpropInputAsConv2D(
        parameters.backend as NativeBackend,
        dy,
        filter,
        pads,
        medfmFlip,
      );
    },
  };
}
