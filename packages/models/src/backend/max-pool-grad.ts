import * as tf from "@tensorflow/tfjs";
import { activeNativeBackend, type NativeMaxPoolWindow, nativeMaxPoolGrad } from "./native-ops";

/** tfjs's own `MaxPool` gradient, captured when {@link registerMaxPoolGrad} first replaces it. */
let tfjsMaxPoolGrad: tf.GradConfig | undefined;
/** False once the native backend has shown it has no oneDNN pooling kernels (e.g. a GPU build). */
let oneDnnPooling = true;

function pair(value: number | [number, number]): [number, number] {
  return typeof value === "number" ? [value, value] : value;
}

/** The window of a tfjs `MaxPool` call that {@link nativeMaxPoolGrad} can take, else undefined. */
function nativeWindow(attrs: tf.NamedAttrMap): NativeMaxPoolWindow | undefined {
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolAttrs;
  if ((pad !== "valid" && pad !== "same") || dimRoundingMode !== undefined) return undefined;
  return {
    filterSize: pair(filterSize),
    strides: pair(strides),
    padding: pad === "valid" ? "VALID" : "SAME",
  };
}

/**
 * The gradient of `MaxPool`: on the native `tensorflow` backend running on the CPU, oneDNN's
 * pooling gradient (`nativeMaxPoolGrad`, the same values as TensorFlow's `MaxPoolGrad` at a
 * third of the time); elsewhere, and where TensorFlow lacks oneDNN, tfjs's own gradient.
 */
export const maxPoolGradConfig: tf.GradConfig = {
  kernelName: tf.MaxPool,
  inputsToSave: ["x"],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, y] = saved as [tf.Tensor4D, tf.Tensor4D];
    const fallback = () => {
      if (tfjsMaxPoolGrad === undefined) {
        throw new Error("registerMaxPoolGrad() must run before the MaxPool gradient is used");
      }
      return tfjsMaxPoolGrad.gradFunc(dy, saved, attrs);
    };
    const native = x.dtype === "float32" && oneDnnPooling ? activeNativeBackend() : undefined;
    const window = nativeWindow(attrs);
    if (
      native === undefined ||
      window === undefined ||
      native.isUsingGpuDevice === true ||
      x.rank !== 4
    ) {
      return fallback();
    }
    return {
      x: () => {
        if (oneDnnPooling) {
          try {
            return nativeMaxPoolGrad(native, dy as tf.Tensor4D, x, y, window);
          } catch {
            // No oneDNN kernels in this TensorFlow build: use tfjs's gradient from now on.
            oneDnnPooling = false;
          }
        }
        return (fallback() as { x: () => tf.Tensor }).x();
      },
    };
  },
};

/**
 * Registers {@link maxPoolGradConfig} in tfjs's (global) gradient registry, keeping tfjs's own
 * gradient for the cases the native one does not cover. Idempotent.
 */
export function registerMaxPoolGrad(): void {
  const current = tf.getGradient(tf.MaxPool);
  if (current === maxPoolGradConfig) return;
  tfjsMaxPoolGrad = current;
  tf.registerGradient(maxPoolGradConfig);
}
