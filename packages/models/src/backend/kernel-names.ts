/**
 * The kernels @medfm/models adds to tfjs, by name. Model code reaches them only through
 * `engine().runKernel(name, inputs, attrs)` (see `runMedfmKernel`); each backend registers its
 * own implementation under the same name (see `kernel-registry.ts`), so a model has one code
 * path on every backend.
 */

/**
 * Training-mode batch norm of an NHWC float32 tensor, optionally followed by ReLU, optionally
 * folding the batch statistics into running estimates. Inputs
 * `{x, scale, offset, runningMean?, runningVariance?}`, attrs {@link BatchNormTrainingAttrs}; outputs `[y, mean, variance, reserve]`, then the new
 * running mean and variance when both running inputs are given. `mean` and `variance` are the
 * batch's (biased variance, as torch normalises); `reserve` is whatever the backend's gradient
 * kernel needs besides them (empty on the portable kernels and TensorFlow's CPU kernels).
 * Differentiable (gradient: {@link MedfmBatchNormTrainingGrad}).
 */
export const MedfmBatchNormTraining = "MedfmBatchNormTraining";

/**
 * Gradient of {@link MedfmBatchNormTraining}: inputs `{dy, x, scale, mean, variance, reserve, y}`
 * (`y` the forward output, read with `relu` only), attrs `{epsilon, relu}`; outputs
 * `[dx, dscale, doffset]`.
 */
export const MedfmBatchNormTrainingGrad = "MedfmBatchNormTrainingGrad";

/**
 * {@link MedfmBatchNormTrainingGrad} with ReLU plus `residual` (x's shape, the gradient that
 * reaches `x` by another path), the sum split by channels into its first C − k and last k, with
 * k the length of `splitLike` (its values are not read). Inputs
 * `{dy, x, scale, mean, variance, reserve, y, residual, splitLike}`, attrs `{epsilon}`; outputs
 * `[head, tail, dscale, doffset]`. In a DenseNet block this is norm1's gradient, the gradient of
 * the concatenation and the split for the layer before, in one kernel.
 */
export const MedfmBatchNormReluGradAdd = "MedfmBatchNormReluGradAdd";

/** `dy` where `x > 0`, else 0: inputs `{dy, x}`, no attrs, one output (the `Relu` gradient). */
export const MedfmReluGrad = "MedfmReluGrad";

/**
 * torch's SGD step with momentum for many variables at once. Inputs `param<i>`, `grad<i>` and,
 * with momentum, `moment<i>` for i in 0…count−1; attrs {@link SgdMomentumUpdateAttrs}; outputs
 * the new values of the params, then (with momentum) the new buffers, in input order.
 */
export const MedfmSgdMomentumUpdate = "MedfmSgdMomentumUpdate";

/**
 * A linear layer on a matrix, optionally followed by exact GELU or plus a residual: inputs
 * `{x, weight, bias, residual?}` (`x` `[rows, in]`, `weight` `[in, out]`, `bias` `[out]`,
 * `residual` `[rows, out]`), attrs {@link LinearAttrs}; one output `activation(x·weight + bias)`,
 * or `x·weight + bias + residual` (a residual goes with activation `"none"` only). Differentiable
 * (the GELU variant recomputes `x·weight + bias` in its gradient; `applyLinear` asks for it only
 * outside gradient recording).
 */
export const MedfmLinear = "MedfmLinear";

/**
 * Inference-mode `relu(batchNorm(conv2d(x, filter)))` with running statistics, as DenseNet's
 * conv0 + norm0 and each layer's conv1 + norm2 run in eval mode: inputs
 * `{x, filter, scale, offset, mean, variance}` (`x` NHWC, `filter` `[h, w, in, out]`, the rest
 * `[out]`), attrs {@link Conv2dBatchNormReluAttrs}; one output. Not differentiable: model code
 * runs it only outside gradient recording.
 */
export const MedfmConv2dBatchNormRelu = "MedfmConv2dBatchNormRelu";

/**
 * torch's `nn.LayerNorm` over the last axis (biased variance, epsilon inside the square root):
 * inputs `{x, scale, offset}` (`x` of any rank ≥ 1, `scale` and `offset` the length of its last
 * axis), attrs {@link LayerNormAttrs}; one output of `x`'s shape. Differentiable (the gradient
 * recomputes the statistics from `x`; the input's gradient is {@link MedfmLayerNormGrad}).
 */
export const MedfmLayerNorm = "MedfmLayerNorm";

/**
 * The input gradient of {@link MedfmLayerNorm}: inputs `{dy, x, scale}`, attrs
 * {@link LayerNormAttrs}; one output, `x`'s shape: with `x̂ = (x − μ)·r`, `r = 1/√(σ² + ε)` over
 * the last axis and `g = dy·scale`, `r·(g − mean(g) − x̂·mean(g·x̂))`.
 */
export const MedfmLayerNormGrad = "MedfmLayerNormGrad";

/**
 * Exact GELU, `x·Φ(x)` with `Φ(x) = (1 + erf(x/√2))/2`, as `nn.GELU()`: inputs `{x}`, one output
 * of its shape. Differentiable (gradient: {@link MedfmGeluGrad}).
 */
export const MedfmGelu = "MedfmGelu";

/** Gradient of {@link MedfmGelu}: inputs `{dy, x}`, one output `dy·(Φ(x) + x·φ(x))`. */
export const MedfmGeluGrad = "MedfmGeluGrad";

/**
 * `softmax(scale·logits)` over the last axis, attention's scaled softmax: inputs `{logits}` (any
 * rank ≥ 1), attrs {@link ScaledSoftmaxAttrs}; one output `y` of its shape. Differentiable
 * (gradient: {@link MedfmScaledSoftmaxGrad}, from the output).
 */
export const MedfmScaledSoftmax = "MedfmScaledSoftmax";

/**
 * Gradient of {@link MedfmScaledSoftmax}: inputs `{dy, y}` (`y` its output), attrs
 * {@link ScaledSoftmaxAttrs}; one output `scale·y·(dy − Σ dy·y)`, the sum over the last axis.
 */
export const MedfmScaledSoftmaxGrad = "MedfmScaledSoftmaxGrad";

/**
 * Multi-head self-attention from a fused qkv projection, as timm's `Attention`: inputs `{qkv}`,
 * `[B, T, 3·heads·D]` (queries, keys, values, each `heads` heads of D channels), attrs
 * {@link AttentionAttrs}; two outputs, `context` `[B, Q, heads·D]` (the heads side by side, as
 * the output projection reads them) and `probabilities` `[B, heads, Q, T]`,
 * `softmax(scale·q·kᵀ)` over the keys, for the first Q tokens' queries. Differentiable in `qkv`
 * (gradient: {@link MedfmAttentionGrad}, from the saved probabilities).
 */
export const MedfmAttention = "MedfmAttention";

/**
 * Gradient of {@link MedfmAttention} in `qkv`: inputs `{qkv, probabilities, dContext,
 * dProbabilities}` (`probabilities` its second output, `dContext` `[B, Q, heads·D]` and
 * `dProbabilities` `[B, heads, Q, T]` its outputs' gradients), attrs {@link AttentionAttrs}; one
 * output `dqkv`, `qkv`'s shape (zero in the queries of tokens past Q).
 */
export const MedfmAttentionGrad = "MedfmAttentionGrad";

/** Attributes of {@link MedfmAttention} and {@link MedfmAttentionGrad}. */
export interface AttentionAttrs {
  /** Attention heads; `qkv`'s last dimension is `3·heads·D`. */
  heads: number;
  /** Queries: the first `queries` tokens attend (to all T), `0` for all of them. */
  queries: number;
  /** Multiplies the logits before the softmax (`1/√D` in timm). */
  scale: number;
}

/** Attributes of {@link MedfmScaledSoftmax} and {@link MedfmScaledSoftmaxGrad}. */
export interface ScaledSoftmaxAttrs {
  /** Multiplies the logits before the softmax (`1/√head_dim` in attention). */
  scale: number;
}

/** Attributes of {@link MedfmLayerNorm}. */
export interface LayerNormAttrs {
  /** Added to the variance before the square root. */
  epsilon: number;
}

/**
 * Inference-mode `relu(batchNorm(x))` with running statistics, as DenseNet's norm1 + relu1, the
 * transitions' norm and norm5 run in eval mode: inputs `{x, scale, offset, mean, variance}` (`x`
 * channels last, the rest `[channels]`), attrs {@link BatchNormReluAttrs}; one output of `x`'s
 * shape. Not differentiable: model code runs it only outside gradient recording.
 */
export const MedfmBatchNormRelu = "MedfmBatchNormRelu";

/**
 * {@link MedfmBatchNormRelu} of the concatenation of `count` pieces along their last axis, without
 * making the concatenation: inputs `x<i>` for i in 0…count−1 (channels last, one shape but for
 * the channels), then `{scale, offset, mean, variance}` (as many values as the pieces' channels
 * together), attrs {@link ConcatBatchNormReluAttrs}; one output, the pieces' shape with their
 * channels together. A DenseNet layer's norm1 + relu1 in eval mode reads the block's features
 * this way. Not differentiable: model code runs it only outside gradient recording.
 */
export const MedfmConcatBatchNormRelu = "MedfmConcatBatchNormRelu";

/** Attributes of {@link MedfmConcatBatchNormRelu}. */
export interface ConcatBatchNormReluAttrs {
  /** How many pieces (`x0`, `x1`, …) the inputs hold, at least 1. */
  count: number;
  /** Added to the running variance before the square root. */
  epsilon: number;
}

/** Attributes of {@link MedfmBatchNormRelu}. */
export interface BatchNormReluAttrs {
  /** Added to the running variance before the square root. */
  epsilon: number;
}

/** Attributes of {@link MedfmConv2dBatchNormRelu}. */
export interface Conv2dBatchNormReluAttrs {
  /** Stride of the convolution, the same on both axes. */
  stride: number;
  /** `"valid"` (no padding) or `"same"`, as `tf.conv2d` takes them. */
  padding: "valid" | "same";
  /** Added to the running variance before the square root. */
  epsilon: number;
}

/** Attributes of {@link MedfmLinear}. */
export interface LinearAttrs {
  /** Applied to `x·weight + bias`: `"none"`, or `"gelu"` (exact, `x/2·(1 + erf(x/√2))`). */
  activation: "none" | "gelu";
}

/** Attributes of {@link MedfmBatchNormTraining}. */
export interface BatchNormTrainingAttrs {
  /** Added to the variance before the square root. */
  epsilon: number;
  /** Weight of the batch statistics in the new running estimates (read with running inputs). */
  momentum: number;
  /** Return `relu(batch norm)`. */
  relu: boolean;
}

/** Attributes of {@link MedfmSgdMomentumUpdate}. */
export interface SgdMomentumUpdateAttrs {
  /** Number of variables. */
  count: number;
  /** Learning rate. */
  lr: number;
  /** Momentum factor μ (0: no buffers, `p −= lr·g`). */
  momentum: number;
  /** Dampening of the gradient in the buffer. */
  dampening: number;
  /** L2 penalty added to the gradient. */
  weightDecay: number;
  /** Nesterov momentum: `p −= lr·(g + μ·buf)`. */
  nesterov: boolean;
  /**
   * Per variable, whether its buffer is new: torch then starts it at the gradient itself (the
   * given moment is zeros and is not read).
   */
  fresh: boolean[];
}
