import type * as tf from "@tensorflow/tfjs";
import { type AttentionAttrs, MedfmAttention, MedfmAttentionGrad } from "../kernel-names";
import { type NativeBackend, nativeAttention, nativeAttentionGrad } from "../native-ops";
import { isAttentionGradInput, isAttentionInput } from "../portable/attention";

/**
 * {@link MedfmAttention} on TensorFlow as our kernel (`nativeAttention`: one op per block where
 * the composite runs eight, and the logits never leave the cache) for a float32 `qkv` of rank 3;
 * anything else goes to `portable`. Register it only where the binding has the kernel
 * (`hasMedfmAttention`).
 */
export function tensorflowAttention(portable: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: MedfmAttention,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { qkv } = parameters.inputs as Record<string, tf.Tensor | undefined>;
      const attrs = parameters.attrs as unknown as AttentionAttrs;
      if (
        qkv === undefined ||
        qkv.dtype !== "float32" ||
        qkv.size === 0 ||
        !isAttentionInput(qkv, attrs)
      ) {
        return portable.kernelFunc(parameters);
      }
      return nativeAttention(parameters.backend as NativeBackend, qkv as tf.Tensor3D, attrs);
    },
  };
}

/**
 * {@link MedfmAttentionGrad} on TensorFlow as our kernel (`nativeAttentionGrad`: one op per
 * block where the composite runs about twenty, among them four batched matrix products) for
 * float32 inputs of valid shapes; anything else goes to `portable`. Register it only where the
 * binding has the kernel (`hasMedfmAttentionGrad`).
 */
export function tensorflowAttentionGrad(portable: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: MedfmAttentionGrad,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { qkv, probabilities, dContext, dProbabilities } = parameters.inputs as Record<
        string,
        tf.Tensor | undefined
      >;
      const attrs = parameters.attrs as unknown as AttentionAttrs;
      if (
        qkv === undefined ||
        probabilities === undefined ||
        dContext === undefined ||
        dProbabilities === undefined ||
        [qkv, probabilities, dContext, dProbabilities].some(
          (tensor) => tensor.dtype !== "float32",
        ) ||
        qkv.size === 0 ||
        !isAttentionGradInput(qkv, probabilities, dContext, dProbabilities, attrs)
      ) {
        return portable.kernelFunc(parameters);
      }
      return nativeAttentionGrad(
        parameters.backend as NativeBackend,
        qkv as tf.Tensor3D,
        probabilities as tf.Tensor4D,
        dContext as tf.Tensor3D,
        dProbabilities as tf.Tensor4D,
        attrs,
      );
    },
  };
}
