import * as tf from "@tensorflow/tfjs";
import {
  MedfmScaledSoftmax,
  MedfmScaledSoftmaxGrad,
  type ScaledSoftmaxAttrs,
} from "./kernel-names";

/**
 * The gradient of {@link MedfmScaledSoftmax}, one config for every backend: the
 * {@link MedfmScaledSoftmaxGrad} kernel on the saved output (one native op on the tensorflow
 * backend, where tfjs's softmax gradient and the scale's run five).
 */
export const scaledSoftmaxGradConfig: tf.GradConfig = {
  kernelName: MedfmScaledSoftmax,
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [y] = saved as [tf.Tensor];
    const { scale } = attrs as unknown as ScaledSoftmaxAttrs;
    return {
      logits: () =>
        tf.engine().runKernel(
          MedfmScaledSoftmaxGrad,
          { dy: dy as tf.Tensor, y },
          {
            scale,
          },
        ) as tf.Tensor,
    };
  },
};
