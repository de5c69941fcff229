import * as tf from "@tensorflow/tfjs";
import { type NativeBackend, nativeSoftmax } from "../native-ops";

/**
 * tfjs's `Softmax` kernel (what `tf.softmax` runs; its gradient reads only the output, so
 * training is unchanged) on TensorFlow with oneDNN's softmax (`nativeSoftmax`) for float32
 * logits; others go to `original`, tfjs-node's own kernel. tfjs softmaxes over the last axis
 * only, as both kernels do. Register it only where oneDNN has the kernel (`hasOneDnnSoftmax`).
 */
export function tensorflowSoftmax(original: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Softmax,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { logits } = parameters.inputs as Record<string, tf.Tensor>;
      if (logits === undefined || logits.dtype !== "float32" || logits.rank < 1) {
        return original.kernelFunc(parameters);
      }
      return nativeSoftmax(parameters.backend as NativeBackend, logits);
    },
  };
}
