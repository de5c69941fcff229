import * as tf from "@tensorflow/tfjs";
import { type NativeBackend, type NativeMaxPoolWindow, nativeMaxPoolGrad } from "../native-ops";

function pair(value: number | [number, number]): [number, number] {
  return typeof value === "number" ? [value, value] : value;
}

/** The window of a `MaxPoolGrad` call that {@link nativeMaxPoolGrad} can take, else undefined. */
function nativeWindow(attrs: tf.NamedAttrMap): NativeMaxPoolWindow | undefined {
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  if ((pad !== "valid" && pad !== "same") || dimRoundingMode !== undefined) return undefined;
  return {
    filterSize: pair(filterSize),
    strides: pair(strides),
    padding: pad === "valid" ? "VALID" : "SAME",
  };
}

/**
 * tfjs's `MaxPoolGrad` kernel (what tfjs's own `MaxPool` gradient runs) on TensorFlow with
 * oneDNN's pooling gradient (`nativeMaxPoolGrad`: the same values as TensorFlow's `MaxPoolGrad`,
 * which tfjs-node runs, at a third of the time), for the float32 NHWC windows it takes; others
 * go to `original`, tfjs-node's own kernel. Register it only where oneDNN has the kernels
 * (`hasOneDnnMaxPoolGrad`).
 */
export function tensorflowMaxPoolGrad(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.MaxPoolGrad,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { dy, input, output } = parameters.inputs as Record<string, tf.Tensor>;
      const window = nativeWindow(parameters.attrs ?? {});
      if (window === undefined || (input as tf.Tensor).dtype !== "float32" || input?.rank !== 4) {
        return original.kernelFunc(parameters);
      }
      return nativeMaxPoolGrad(
        parameters.backend as NativeBackend,
        dy as tf.Tensor4D,
        input as tf.Tensor4D,
        output as tf.Tensor4D,
        window,
      );
    },
  };
}
