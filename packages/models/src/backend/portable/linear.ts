import * as tf from "@tensorflow/tfjs";
import { exactGelu } from "../exact-gelu";
import { type LinearAttrs, MedfmLinear } from "../kernel-names";

/** {@link MedfmLinear} as tfjs ops: `matMul`, `add`, the GELU composite. Runs on any backend. */
export function portableLinear(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmLinear,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { x, weight, bias } = inputs as Record<string, tf.Tensor>;
      const { activation } = attrs as unknown as LinearAttrs;
      return tf.tidy(() => {
        const y = tf.add(tf.matMul(x as tf.Tensor2D, weight as tf.Tensor2D), bias as tf.Tensor);
        return activation === "gelu" ? exactGelu(y) : y;
      });
    },
  };
}
