import * as tf from "@tensorflow/tfjs";
import { MedfmSgdMomentumUpdate, type SgdMomentumUpdateAttrs } from "../kernel-names";

/**
 * {@link MedfmSgdMomentumUpdate} with tfjs ops, variable by variable, as `torch.optim.SGD`:
 * `g += wd·p; buf = μ·buf + (1−dampening)·g` (buf = g when fresh); `p −= lr·buf` (Nesterov:
 * `p −= lr·(g + μ·buf)`). Runs on any backend.
 */
export function portableSgdMomentumUpdate(backendName: string): tf.KernelConfig {
  return { kernelName: MedfmSgdMomentumUpdate, backendName, kernelFunc: sgdMomentumUpdateOps };
}

/** The kernel function of {@link portableSgdMomentumUpdate}, for kernels that fall back to it. */
export function sgdMomentumUpdateOps({
  inputs,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo[] {
  const { count, lr, momentum, dampening, weightDecay, nesterov, fresh } =
    attrs as unknown as SgdMomentumUpdateAttrs;
  const tensors = inputs as unknown as Record<string, tf.Tensor>;
  return tf.tidy(() => {
    // One scalar tensor per step, not per variable: on the native backend each scalar made
    // from a number is an upload, and each multiplication by 1 a full pass over the data.
    const decay = weightDecay ? tf.scalar(weightDecay) : undefined;
    const factor = momentum ? tf.scalar(momentum) : undefined;
    const undamped = dampening ? tf.scalar(1 - dampening) : undefined;
    const rate = tf.scalar(lr);
    const params: tf.Tensor[] = [];
    const moments: tf.Tensor[] = [];
    for (let index = 0; index < count; index += 1) {
      const param = tensors[`param${index}`] as tf.Tensor;
      const gradient = tensors[`grad${index}`] as tf.Tensor;
      let update: tf.Tensor = decay ? gradient.add(param.mul(decay)) : gradient;
      if (factor) {
        const previous = tensors[`moment${index}`] as tf.Tensor;
        const buffer = fresh[index]
          ? update
          : previous.mul(factor).add(undamped ? update.mul(undamped) : update);
        // An output must be a tensor of its own, not one of the inputs.
        moments.push(buffer === gradient ? buffer.clone() : buffer);
        update = nesterov ? update.add(buffer.mul(factor)) : buffer;
      }
      params.push(param.sub(update.mul(rate)));
    }
    return [...params, ...moments];
  });
}
