import type * as tf from "@tensorflow/tfjs";
import { portableAttention, portableAttentionGrad } from "./attention";
import { portableBatchNormRelu, portableConcatBatchNormRelu } from "./batch-norm-relu";
import {
  portableBatchNormReluGradAdd,
  portableBatchNormTraining,
  portableBatchNormTrainingGrad,
} from "./batch-norm-training";
import { portableConv2dBatchNormRelu } from "./conv2d-batch-norm-relu";
import { portableGelu, portableGeluGrad } from "./gelu";
import { portableLayerNorm, portableLayerNormGrad } from "./layer-norm";
import { portableLinear } from "./linear";
import { portableReluGrad } from "./relu-grad";
import { portableScaledSoftmax, portableScaledSoftmaxGrad } from "./scaled-softmax";
import { portableSgdMomentumUpdate } from "./sgd-momentum-update";

/**
 * Every @medfm/models kernel as a composite of tfjs ops, for `backendName`: what `cpu`, `wasm`
 * (and `webgl`, `webgpu`) run, and the fallback of any backend without a faster kernel.
 */
export function portableKernelConfigs(backendName: string): tf.KernelConfig[] {
  return [
    portableBatchNormTraining(backendName),
    portableBatchNormTrainingGrad(backendName),
    portableBatchNormReluGradAdd(backendName),
    portableReluGrad(backendName),
    portableSgdMomentumUpdate(backendName),
    portableLinear(backendName),
    portableConv2dBatchNormRelu(backendName),
    portableBatchNormRelu(backendName),
    portableConcatBatchNormRelu(backendName),
    portableLayerNorm(backendName),
    portableLayerNormGrad(backendName),
    portableGelu(backendName),
    portableGeluGrad(backendName),
    portableScaledSoftmax(backendName),
    portableScaledSoftmaxGrad(backendName),
    portableAttention(backendName),
    portableAttentionGrad(backendName),
  ];
}
