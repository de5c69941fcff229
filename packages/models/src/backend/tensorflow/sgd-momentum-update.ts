import * as tf from "@tensorflow/tfjs";
import { MedfmSgdMomentumUpdate, type SgdMomentumUpdateAttrs } from "../kernel-names";
import { type NativeBackend, nativeApplyMomentum } from "../native-ops";
import { sgdMomentumUpdateOps } from "../portable/sgd-momentum-update";

/**
 * {@link MedfmSgdMomentumUpdate} as one TensorFlow op (`MedfmApplyMomentum`, in the binding
 * `medfm backend install` builds) for every variable and buffer: the same values in one pass
 * over memory instead of four ops per variable. TensorFlow's update has no dampening, needs
 * momentum and float32: other calls run the portable ops. Register it only where the binding
 * has the op (`hasMedfmKernels`).
 */
export function tensorflowSgdMomentumUpdate(): tf.KernelConfig {
  return {
    kernelName: MedfmSgdMomentumUpdate,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { count, lr, momentum, dampening, weightDecay, nesterov } =
        parameters.attrs as unknown as SgdMomentumUpdateAttrs;
      const tensors = parameters.inputs as unknown as Record<string, tf.Tensor>;
      const pick = (prefix: string) =>
        Array.from({ length: count }, (_, index) => tensors[`${prefix}${index}`] as tf.Tensor);
      const [params, grads] = [pick("param"), pick("grad")];
      if (
        momentum === 0 ||
        dampening !== 0 ||
        [...params, ...grads].some((tensor) => tensor.dtype !== "float32")
      ) {
        return sgdMomentumUpdateOps(parameters);
      }
      return tf.tidy(() => {
        // A fresh buffer is zeros: μ·0 + g gives torch's `buf = g` on the first step.
        const result = nativeApplyMomentum(
          parameters.backend as NativeBackend,
          { lr: tf.scalar(lr), momentum: tf.scalar(momentum), weightDecay: tf.scalar(weightDecay) },
          { params, grads, moments: pick("moment") },
          nesterov,
        );
        return [...result.params, ...result.moments];
      });
    },
  };
}
