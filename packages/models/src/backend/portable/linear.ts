import * as tf from "@tensorflow/tfjs";
import { exactGelu } from "../exact-gelu";
import { type LinearAttrs, MedfmLinear } from "../kernel-names";

/**
 * {@link MedfmLinear} as tfjs ops: `matMul`, `add`, the GELU composite, the residual's `add`.
 * Runs on any backend.
 */
export function portableLinear(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmLinear,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { x, weight, bias, residual } = inputs as Record<string, tf.Tensor | undefined>;
      const { activation } = attrs as unknown as LinearAttrs;
      return tf.tidy(() => {
        const y = tf.add(tf.matMul(x as tf.Tensor2D, weight as tf.Tensor2D), bias as tf.Tensor);
        if (activation === "gelu") {
          if (residual !== undefined) {
            throw new RangeError(
              `${MedfmLinear}: a residual goes with activation "none", not "gelu"`,
            );
          }
          return exactGelu(y);
        }
        return residual === undefined ? y : tf.add(y, residual);
      });
    },
  };
}
