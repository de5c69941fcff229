import * as tf from "@tensorflow/tfjs";
import {
  MedfmScaledSoftmax,
  MedfmScaledSoftmaxGrad,
  type ScaledSoftmaxAttrs,
} from "../kernel-names";

/** `softmax(scale·logits)` over the last axis as tfjs ops (`mul` where `scale ≠ 1`, `softmax`). */
export function scaledSoftmaxComposite(logits: tf.Tensor, scale: number): tf.Tensor {
  return tf.tidy(() => tf.softmax(scale === 1 ? logits : tf.mul(logits, scale)));
}

/** {@link MedfmScaledSoftmaxGrad} as tfjs ops: `scale·y·(dy − Σ dy·y)` over the last axis. */
export function scaledSoftmaxGradComposite(dy: tf.Tensor, y: tf.Tensor, scale: number): tf.Tensor {
  return tf.tidy(() => {
    const dot = tf.sum(tf.mul(dy, y), y.rank - 1, true);
    return tf.mul(tf.mul(y, tf.sub(dy, dot)), scale);
  });
}

/** {@link MedfmScaledSoftmax} as {@link scaledSoftmaxComposite}. Runs on any backend. */
export function portableScaledSoftmax(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmScaledSoftmax,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { logits } = inputs as Record<string, tf.Tensor>;
      const { scale } = attrs as unknown as ScaledSoftmaxAttrs;
      return scaledSoftmaxComposite(logits as tf.Tensor, scale);
    },
  };
}

/** {@link MedfmScaledSoftmaxGrad} as {@link scaledSoftmaxGradComposite}. Runs on any backend. */
export function portableScaledSoftmaxGrad(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmScaledSoftmaxGrad,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { dy, y } = inputs as Record<string, tf.Tensor>;
      const { scale } = attrs as unknown as ScaledSoftmaxAttrs;
      return scaledSoftmaxGradComposite(dy as tf.Tensor, y as tf.Tensor, scale);
    },
  };
}
