import type * as tf from "@tensorflow/tfjs";
import {
  MedfmScaledSoftmax,
  MedfmScaledSoftmaxGrad,
  type ScaledSoftmaxAttrs,
} from "../kernel-names";
import { type NativeBackend, nativeScaledSoftmax, nativeSoftmax } from "../native-ops";

/**
 * {@link MedfmScaledSoftmax} and {@link MedfmScaledSoftmaxGrad} on TensorFlow as our kernels
 * (`nativeScaledSoftmax`: one pass over the rows each) for float32 tensors; anything else goes to
 * `portable`, the configs of the same two names. With `oneDnnSoftmax`, an unscaled forward runs
 * oneDNN's softmax, faster than ours (0.85 against 1.25 ms on ViT-S's 8 × 6 × 207 × 207 logits,
 * Intel Xeon with AVX-512). Register them only where the binding has the kernels
 * (`hasMedfmSoftmax`).
 */
export function tensorflowScaledSoftmax(
  portable: { softmax: tf.KernelConfig; softmaxGrad: tf.KernelConfig },
  oneDnnSoftmax: boolean,
): tf.KernelConfig[] {
  const native = (kernelName: string, fallback: tf.KernelConfig): tf.KernelConfig => ({
    kernelName,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { logits, dy, y } = parameters.inputs as Record<string, tf.Tensor | undefined>;
      const { scale } = parameters.attrs as unknown as ScaledSoftmaxAttrs;
      const gradient = kernelName === MedfmScaledSoftmaxGrad;
      const first = gradient ? dy : logits;
      if (
        first === undefined ||
        first.dtype !== "float32" ||
        first.rank < 1 ||
        (gradient && (y === undefined || y.dtype !== "float32" || y.size !== first.size))
      ) {
        return fallback.kernelFunc(parameters);
      }
      if (!gradient && scale === 1 && oneDnnSoftmax) {
        return nativeSoftmax(parameters.backend as NativeBackend, first);
      }
      return nativeScaledSoftmax(
        parameters.backend as NativeBackend,
        first,
        scale,
        gradient ? y : undefined,
      );
    },
  });
  return [
    native(MedfmScaledSoftmax, portable.softmax),
    native(MedfmScaledSoftmaxGrad, portable.softmaxGrad),
  ];
}
