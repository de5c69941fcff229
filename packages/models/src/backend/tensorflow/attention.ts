import type * as tf from "@tensorflow/tfjs";
import { type AttentionAttrs, MedfmAttention } from "../kernel-names";
import { type NativeBackend, nativeAttention } from "../native-ops";
import { isAttentionInput } from "../portable/attention";

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
