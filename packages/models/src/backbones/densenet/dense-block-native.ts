import * as tf from "@tensorflow/tfjs";
import { batchNormTrainingKernel } from "../../backend/batch-norm-training";
import { MedfmBatchNormReluGradAdd, MedfmBatchNormTrainingGrad } from "../../backend/kernel-names";
import { runMedfmKernel } from "../../backend/kernel-registry";
import type { BatchNorm2d } from "./batch-norm";

/** The parts of a dense layer the training block reads (see `densenet.ts`). */
export interface TrainingDenseLayer {
  norm1: BatchNorm2d;
  conv1: { filter: tf.Variable<tf.Rank.R4> };
  norm2: BatchNorm2d;
  conv2: { filter: tf.Variable<tf.Rank.R4> };
}

/** Tensors each layer's backward pass needs, saved by the forward pass in this order. */
const SAVED_PER_LAYER = 10;
/** Parameters per layer: norm1 weight and bias, conv1, norm2 weight and bias, conv2. */
const PARAMETERS_PER_LAYER = 6;

/**
 * A DenseNet block in training mode (no dropout) as one custom-gradient op whose backward pass
 * is written out, on every backend: the batch norms and their gradients are @medfm/models
 * kernels (`MedfmBatchNormTraining`, `MedfmBatchNormTrainingGrad`, `MedfmBatchNormReluGradAdd`),
 * each backend's own (see `kernel-registry.ts`). The forward pass is the standard one: for each
 * layer, `relu(norm1)` → 1×1 conv → `relu(norm2)` → 3×3 conv, concatenated onto the features,
 * with the running statistics updated as torch does. Left to tfjs's tape, the backward pass of
 * each layer would also split the concatenation's gradient (`SplitV`) and add it to the gradient
 * through norm1 (`Add`): here norm1's gradient kernel adds that gradient and splits the sum for
 * the layer before, in one native op where the binding has `MedfmBatchNormReluGradAdd` (six
 * native ops per layer instead of eight, two passes over its features fewer), as the same add
 * and split elsewhere. The values are those of the layer-by-layer path; the gradients are the
 * sum of the same two terms.
 */
export function denseBlockTraining(
  layers: readonly TrainingDenseLayer[],
  input: tf.Tensor4D,
): tf.Tensor4D {
  const parameters = denseLayerParameters(layers);
  const growth = layers[0].conv2.filter.shape[3];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const values = args.slice(0, 1 + parameters.length) as tf.Tensor[];
    const save = args[1 + parameters.length] as tf.GradSaveFunc;
    const saved: tf.Tensor[] = [];
    let features = values[0] as tf.Tensor4D;
    for (const [index, layer] of layers.entries()) {
      const [weight1, bias1, filter1, weight2, bias2, filter2] = values.slice(
        1 + index * PARAMETERS_PER_LAYER,
        1 + (index + 1) * PARAMETERS_PER_LAYER,
      ) as [tf.Tensor1D, tf.Tensor1D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor4D];
      const first = normRelu(layer.norm1, features, weight1, bias1);
      const bottleneck = tf.conv2d(first.y, filter1, 1, "valid");
      const second = normRelu(layer.norm2, bottleneck, weight2, bias2);
      const fresh = tf.conv2d(second.y, filter2, 1, "same");
      saved.push(features, first.y, first.mean, first.variance, first.reserve);
      saved.push(bottleneck, second.y, second.mean, second.variance, second.reserve);
      features = tf.concat([features, fresh], 3) as tf.Tensor4D;
    }
    save([...saved, ...values.slice(1)]);
    return {
      value: features,
      gradFunc: (dy: tf.Tensor, kept: tf.Tensor[]) =>
        backward(layers, growth, dy as tf.Tensor4D, kept),
    };
  });
  return op(input, ...parameters) as tf.Tensor4D;
}

/**
 * The layers' parameters in the order the training block takes and differentiates them: per
 * layer, norm1's weight and bias, conv1's filter, norm2's weight and bias, conv2's filter.
 */
export function denseLayerParameters(layers: readonly TrainingDenseLayer[]): tf.Variable[] {
  return layers.flatMap((layer) => [
    layer.norm1.weight,
    layer.norm1.bias,
    layer.conv1.filter,
    layer.norm2.weight,
    layer.norm2.bias,
    layer.conv2.filter,
  ]);
}

/** `relu(batch norm)` with batch statistics, folding them into the layer's running estimates. */
function normRelu(
  norm: BatchNorm2d,
  x: tf.Tensor4D,
  weight: tf.Tensor1D,
  bias: tf.Tensor1D,
): { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D; reserve: tf.Tensor } {
  const result = batchNormTrainingKernel(
    x,
    weight,
    bias,
    { epsilon: norm.eps, momentum: norm.momentum, relu: true },
    { mean: norm.runningMean, variance: norm.runningVar },
  );
  if (result.runningMean !== undefined && result.runningVariance !== undefined) {
    norm.runningMean.assign(result.runningMean);
    norm.runningVar.assign(result.runningVariance);
    norm.numBatchesTracked += 1;
  }
  return { y: result.y, mean: result.mean, variance: result.variance, reserve: result.reserve };
}

/** Gradients of the block's input and parameters, from the last layer to the first. */
function backward(
  layers: readonly TrainingDenseLayer[],
  growth: number,
  dy: tf.Tensor4D,
  kept: tf.Tensor[],
): tf.Tensor[] {
  const activations = kept.slice(0, layers.length * SAVED_PER_LAYER);
  const values = kept.slice(layers.length * SAVED_PER_LAYER);
  const gradients: tf.Tensor[] = new Array(values.length);
  const channels = dy.shape[3];
  // The gradient of the block's output, split into the last layer's input and its new features.
  let [residual, fresh] = tf.split(dy, [channels - growth, growth], 3) as tf.Tensor4D[];
  const splitLike = tf.zeros([growth]);
  const noSplit = tf.zeros([0]);
  let input: tf.Tensor4D | undefined;
  for (let index = layers.length - 1; index >= 0; index -= 1) {
    const layer = layers[index];
    const [features, y1, mean1, variance1, reserve1, bottleneck, y2, mean2, variance2, reserve2] =
      activations.slice(index * SAVED_PER_LAYER, (index + 1) * SAVED_PER_LAYER) as [
        tf.Tensor4D,
        tf.Tensor4D,
        tf.Tensor1D,
        tf.Tensor1D,
        tf.Tensor,
        tf.Tensor4D,
        tf.Tensor4D,
        tf.Tensor1D,
        tf.Tensor1D,
        tf.Tensor,
      ];
    const [weight1, , filter1, weight2, , filter2] = values.slice(
      index * PARAMETERS_PER_LAYER,
      (index + 1) * PARAMETERS_PER_LAYER,
    ) as [tf.Tensor1D, tf.Tensor1D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor4D];
    // 3×3 convolution, then norm2 with its ReLU.
    const dy2 = tf.conv2dTranspose(fresh, filter2, y2.shape, 1, "same");
    const dFilter2 = filterGradient(y2, fresh, filter2.shape, "same");
    const [dBottleneck, dWeight2, dBias2] = runMedfmKernel(
      MedfmBatchNormTrainingGrad,
      {
        dy: dy2,
        x: bottleneck,
        scale: weight2,
        mean: mean2,
        variance: variance2,
        reserve: reserve2,
        y: y2,
      },
      { epsilon: layer.norm2.eps, relu: true },
    ) as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
    // 1×1 convolution, then norm1 with its ReLU plus the gradient through the concatenation.
    const dy1 = tf.conv2dTranspose(dBottleneck, filter1, y1.shape, 1, "valid");
    const dFilter1 = filterGradient(y1, dBottleneck, filter1.shape, "valid");
    const [head, tail, dWeight1, dBias1] = runMedfmKernel(
      MedfmBatchNormReluGradAdd,
      {
        dy: dy1,
        x: features,
        scale: weight1,
        mean: mean1,
        variance: variance1,
        reserve: reserve1,
        y: y1,
        residual,
        splitLike: index > 0 ? splitLike : noSplit,
      },
      { epsilon: layer.norm1.eps },
    ) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
    tf.dispose([dy2, dBottleneck, dy1, residual, fresh]);
    gradients.splice(
      index * PARAMETERS_PER_LAYER,
      PARAMETERS_PER_LAYER,
      dWeight1,
      dBias1,
      dFilter1,
      dWeight2,
      dBias2,
      dFilter2,
    );
    if (index > 0) {
      residual = head;
      fresh = tail;
    } else {
      input = head;
      tail.dispose();
    }
  }
  tf.dispose([splitLike, noSplit]);
  return [input as tf.Tensor4D, ...gradients];
}

/** Gradient of a stride-1 convolution with respect to its filter. */
function filterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  pad: "same" | "valid",
): tf.Tensor4D {
  return tf
    .engine()
    .runKernel(
      "Conv2DBackpropFilter",
      { x, dy },
      { strides: 1, pad, dataFormat: "NHWC", filterShape },
    ) as tf.Tensor4D;
}
