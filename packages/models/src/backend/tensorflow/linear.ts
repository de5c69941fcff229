import type * as tf from "@tensorflow/tfjs";
import { type LinearAttrs, MedfmLinear } from "../kernel-names";
import { type NativeBackend, nativeFusedMatMul } from "../native-ops";

/**
 * {@link MedfmLinear} on TensorFlow as oneDNN's fused inner product (`nativeFusedMatMul`: the
 * product, the bias and the GELU or the residual in one op) for float32 matrices; anything else
 * goes to `portable`. Register it only where the build and binding run it (`hasOneDnnFusedMatMul`).
 */
export function tensorflowLinear(portable: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: MedfmLinear,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { x, weight, bias, residual } = parameters.inputs as Record<
        string,
        tf.Tensor | undefined
      >;
      const { activation } = parameters.attrs as unknown as LinearAttrs;
      if (
        x?.rank !== 2 ||
        weight?.rank !== 2 ||
        bias?.rank !== 1 ||
        x.dtype !== "float32" ||
        weight.dtype !== "float32" ||
        bias.dtype !== "float32" ||
        (residual !== undefined &&
          (activation !== "none" || residual.rank !== 2 || residual.dtype !== "float32"))
      ) {
        return portable.kernelFunc({ ...parameters, backend: parameters.backend });
      }
      return nativeFusedMatMul(
        parameters.backend as NativeBackend,
        x as tf.Tensor2D,
        weight as tf.Tensor2D,
        bias as tf.Tensor1D,
        activation,
        residual as tf.Tensor2D | undefined,
      );
    },
  };
}
