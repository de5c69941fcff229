import type * as tf from "@tensorflow/tfjs";
import { type AttentionAttrs, MedfmAttention } from "../kernel-names";
import { type NativeBackend, nativeAttention } from "../native-ops";

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
      const [, tokens = 0, width = 0] = qkv?.shape ?? [];
      if (
        qkv?.rank !== 3 ||
        qkv.dtype !== "float32" ||
        !Number.isInteger(attrs.heads) ||
        attrs.heads < 1 ||
        width % (3 * attrs.heads) !== 0 ||
        !Number.isInteger(attrs.queries) ||
        attrs.queries < 0 ||
        attrs.queries > tokens ||
        qkv.size === 0
      ) {
        return portable.kernelFunc(parameters);
      }
      return nativeAttention(parameters.backend as NativeBackend, qkv as tf.Tensor3D, attrs);
    },
  };
}
