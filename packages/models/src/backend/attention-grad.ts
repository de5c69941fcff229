import * as tf from "@tensorflow/tfjs";
import { type AttentionAttrs, MedfmAttention, MedfmAttentionGrad } from "./kernel-names";

/**
 * The gradient of {@link MedfmAttention} in `qkv`, one config for every backend: one
 * {@link MedfmAttentionGrad} kernel from the saved input and probabilities (one native op on the
 * tensorflow backend, `attentionGradComposite`'s tfjs ops elsewhere). tfjs fills the gradient of
 * an output nobody used with zeros, so the probabilities' gradient is always a tensor.
 */
export const attentionGradConfig: tf.GradConfig = {
  kernelName: MedfmAttention,
  inputsToSave: ["qkv"],
  outputsToSave: [false, true],
  gradFunc: (dy, saved, attrs) => {
    const [qkv, probabilities] = saved as [tf.Tensor3D, tf.Tensor4D];
    const [dContext, dProbabilities] = (Array.isArray(dy) ? dy : [dy]) as [
      tf.Tensor,
      tf.Tensor | undefined,
    ];
    const { heads, queries, scale } = attrs as unknown as AttentionAttrs;
    return {
      qkv: () =>
        tf.tidy(
          () =>
            tf.engine().runKernel(
              MedfmAttentionGrad,
              {
                qkv,
                probabilities,
                dContext,
                dProbabilities: dProbabilities ?? tf.zerosLike(probabilities),
              },
              { heads, queries, scale },
            ) as tf.Tensor3D,
        ),
    };
  },
};
