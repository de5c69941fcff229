import { MEDFM_OPS } from "@medfm/native-backend";
import type * as tf from "@tensorflow/tfjs";
import { Conv2D, Conv2DBackpropFilter, Conv2DBackpropInput } from "@tensorflow/tfjs";
import {
  MedfmAttention,
  MedfmAttentionGrad,
  MedfmBatchNormRelu,
  MedfmConcatBatchNormRelu,
  MedfmConv2dBatchNormRelu,
  MedfmGelu,
  MedfmGeluGrad,
  MedfmLayerNorm,
  MedfmLayerNormGrad,
  MedfmLinear,
  MedfmScaledSoftmax,
  MedfmScaledSoftmaxGrad,
} from "../kernel-names";
import {
  hasMedfmAttention,
  hasMedfmAttentionGrad,
  hasMedfmBatchNormRelu,
  hasMedfmBatchNormReluTraining,
  hasMedfmConcatBatchNormRelu,
  hasMedfmConv2DBackpropFilter,
  hasMedfmFlipSwapFilter,
  hasMedfmGelu,
  hasMedfmLayerNormGrad,
  hasMedfmOp,
  hasMedfmSoftmax,
  hasOneDnnBatchNormRelu,
  hasOneDnnFusedConv2d,
  hasOneDnnFusedMatMul,
  hasOneDnnLayerNorm,
  hasOneDnnMaxPoolGrad,
  hasOneDnnSoftmax,
  type NativeBackend,
} from "../native-ops";
import { portableKernelConfigs } from "../portable/portable-kernels";
import { tensorflowAttention, tensorflowAttentionGrad } from "./attention";
import { tensorflowBatchNormRelu, tensorflowConcatBatchNormRelu } from "./batch-norm-relu";
import {
  tensorflowBatchNormReluGradAdd,
  tensorflowBatchNormTraining,
  tensorflowBatchNormTrainingGrad,
} from "./batch-norm-training";
import {
  chooseFilterGradient,
  cpuFlags,
  FILTER_GRADIENT_VARIABLE,
  tensorflowConv2DBackpropFilter,
} from "./conv2d-backprop-filter";
import {
  chooseInputGradient,
  INPUT_GRADIENT_VARIABLE,
  tensorflowConv2DBackpropInput,
} from "./conv2d-backprop-input";
import { tensorflowConv2dBatchNormRelu } from "./conv2d-batch-norm-relu";
import { tensorflowGelu } from "./gelu";
import { tensorflowLayerNorm } from "./layer-norm";
import { tensorflowLayerNormGrad } from "./layer-norm-grad";
import { tensorflowLinear } from "./linear";
import { tensorflowMaxPoolGrad } from "./max-pool-grad";
import {
  tensorflowPointwiseConv2D,
  tensorflowPointwiseConv2DBackpropFilter,
  tensorflowPointwiseConv2DBackpropInput,
} from "./pointwise-conv2d";
import { tensorflowReluGrad } from "./relu-grad";
import { tensorflowScaledSoftmax } from "./scaled-softmax";
import { tensorflowSgdMomentumUpdate } from "./sgd-momentum-update";
import { tensorflowSoftmax } from "./softmax";

/** What the binding and the TensorFlow build offer, probed once per backend. */
export interface TensorflowCapabilities {
  /** @medfm/models' own kernels are in the binding (a CPU build from `medfm backend install`). */
  medfmKernels: boolean;
  /** Our GELU kernels are in the binding (provisioned since they were added). */
  medfmGelu: boolean;
  /** Our inference batch norm + ReLU kernel is in the binding (provisioned since it was added). */
  medfmBatchNormRelu: boolean;
  /** Our training batch norm + ReLU kernel is in the binding (provisioned since it was added). */
  medfmBatchNormReluTraining: boolean;
  /** Our layer-norm gradient kernel is in the binding (provisioned since it was added). */
  medfmLayerNormGrad: boolean;
  /** Our scaled-softmax kernels are in the binding (provisioned since they were added). */
  medfmSoftmax: boolean;
  /**
   * Our attention kernel is in the binding (provisioned since it was added) and passed its
   * probe.
   */
  medfmAttention: boolean;
  /**
   * Our attention-gradient kernel is in the binding (provisioned since it was added) and passed
   * its probe.
   */
  medfmAttentionGrad: boolean;
  /**
   * Our kernel for `relu(batchNorm)` of a concatenation read from its pieces is in the binding
   * (provisioned since it was added) and passed its probe.
   */
  medfmConcatBatchNormRelu: boolean;
  /**
   * Our filter-gradient kernel is in the binding and passed its probe, and
   * `chooseFilterGradient` picks it for this CPU (or `MEDFM_FILTER_GRADIENT=medfm` asks for it).
   */
  medfmConv2DBackpropFilter: boolean;
  /**
   * Stride-1 input gradients run as forward convolutions (`tensorflowConv2DBackpropInput`):
   * `chooseInputGradient` picks it for this CPU and TensorFlow runs on it, not on a GPU (or
   * `MEDFM_INPUT_GRADIENT=medfm` asks for it).
   */
  conv2DBackpropInputAsConv2D: boolean;
  /**
   * Our filter flip-and-transpose kernel is in the binding (provisioned since it was added) and
   * passed its probe; probed only where `conv2DBackpropInputAsConv2D` needs it.
   */
  medfmFlipSwapFilter: boolean;
  /** oneDNN's fused batch norm + ReLU runs (x86 CPU builds). */
  oneDnnRelu: boolean;
  /** oneDNN's max-pool gradient runs (x86 CPU builds). */
  oneDnnMaxPoolGrad: boolean;
  /**
   * oneDNN's fused inner product with bias and GELU runs (x86 CPU builds, with a binding that
   * passes list-of-string attributes).
   */
  oneDnnFusedMatMul: boolean;
  /**
   * oneDNN's fused convolution with batch norm and ReLU runs (x86 CPU builds, with a binding that
   * passes list-of-string and list-of-type attributes).
   */
  oneDnnFusedConv2d: boolean;
  /** oneDNN's layer norm runs (x86 CPU builds). */
  oneDnnLayerNorm: boolean;
  /** oneDNN's softmax runs (x86 CPU builds). */
  oneDnnSoftmax: boolean;
  /**
   * Pointwise convolutions (1×1, stride 1, no padding or dilation) and their gradients run as
   * matrix products, `BatchMatMulV2` and `MatMul` (`tensorflowPointwiseConv2D`): TensorFlow runs
   * on the CPU, not on a GPU.
   */
  pointwiseConvAsMatMul: boolean;
}

/** tfjs-node's own kernels that the table replaces where oneDNN has faster ones. */
export interface TensorflowOriginalKernels {
  /** tfjs-node's `MaxPoolGrad`. */
  maxPoolGrad?: tf.KernelConfig;
  /** tfjs-node's `Softmax`. */
  softmax?: tf.KernelConfig;
  /** tfjs-node's `Conv2DBackpropFilter`. */
  conv2DBackpropFilter?: tf.KernelConfig;
  /** tfjs-node's `Conv2DBackpropInput`. */
  conv2DBackpropInput?: tf.KernelConfig;
  /** tfjs-node's `Conv2D`. */
  conv2D?: tf.KernelConfig;
}

/**
 * Probes what `backend` offers (each check runs a tiny op once). `env` is read for
 * `MEDFM_FILTER_GRADIENT` (see `chooseFilterGradient`) and `MEDFM_INPUT_GRADIENT` (see
 * `chooseInputGradient`).
 *
 * @throws Error when `MEDFM_FILTER_GRADIENT` or `MEDFM_INPUT_GRADIENT` has another value than
 *   medfm, tensorflow or auto, or `MEDFM_FILTER_GRADIENT` asks for medfm where the binding lacks
 *   the kernel or it fails its probe.
 */
export function tensorflowCapabilities(
  backend: NativeBackend,
  env: Readonly<Record<string, string | undefined>> = globalThis.process?.env ?? {},
): TensorflowCapabilities {
  const setting = env[FILTER_GRADIENT_VARIABLE];
  const flags = cpuFlags();
  const filterGradient = chooseFilterGradient(flags, setting) === "medfm";
  const inputSetting = env[INPUT_GRADIENT_VARIABLE];
  const inputGradient = chooseInputGradient(flags, inputSetting) === "medfm";
  const medfmConv2DBackpropFilter = filterGradient && hasMedfmConv2DBackpropFilter(backend);
  if (filterGradient && !medfmConv2DBackpropFilter && setting?.trim().toLowerCase() === "medfm") {
    throw new Error(
      `${FILTER_GRADIENT_VARIABLE}=medfm, but the tensorflow backend's binding has no working ` +
        "MedfmConv2DBackpropFilter kernel (a GPU build, or one provisioned before the kernel " +
        "was added): run `medfm backend install` again, or unset the variable",
    );
  }
  const conv2DBackpropInputAsConv2D =
    inputGradient &&
    (backend.isUsingGpuDevice !== true || inputSetting?.trim().toLowerCase() === "medfm");
  return {
    medfmConv2DBackpropFilter,
    conv2DBackpropInputAsConv2D,
    medfmKernels:
      hasMedfmOp(backend, MEDFM_OPS.applyMomentum) &&
      hasMedfmOp(backend, MEDFM_OPS.batchNormReluGrad) &&
      hasMedfmOp(backend, MEDFM_OPS.batchNormReluGradAdd),
    medfmFlipSwapFilter: conv2DBackpropInputAsConv2D && hasMedfmFlipSwapFilter(backend),
    medfmGelu: hasMedfmGelu(backend),
    medfmBatchNormRelu: hasMedfmBatchNormRelu(backend),
    medfmBatchNormReluTraining: hasMedfmBatchNormReluTraining(backend),
    medfmConcatBatchNormRelu: hasMedfmConcatBatchNormRelu(backend),
    medfmLayerNormGrad: hasMedfmLayerNormGrad(backend),
    medfmSoftmax: hasMedfmSoftmax(backend),
    medfmAttention: hasMedfmAttention(backend),
    medfmAttentionGrad: hasMedfmAttentionGrad(backend),
    oneDnnRelu: hasOneDnnBatchNormRelu(backend),
    oneDnnMaxPoolGrad: hasOneDnnMaxPoolGrad(backend),
    oneDnnFusedMatMul: hasOneDnnFusedMatMul(backend),
    oneDnnFusedConv2d: hasOneDnnFusedConv2d(backend),
    oneDnnLayerNorm: hasOneDnnLayerNorm(backend),
    oneDnnSoftmax: hasOneDnnSoftmax(backend),
    pointwiseConvAsMatMul: backend.isUsingGpuDevice !== true,
  };
}

/**
 * The kernel table of the native `tensorflow` backend: every @medfm/models kernel as TensorFlow
 * ops over tfjs-node's binding, the fused ones where `capabilities` has them and the portable
 * composites otherwise, plus tfjs's `MaxPoolGrad` and `Softmax` on oneDNN in place of
 * tfjs-node's `originals` where oneDNN has them, its `Conv2DBackpropFilter` on our kernel and
 * its stride-1 `Conv2DBackpropInput` as a forward convolution where `capabilities` chose them.
 */
export function tensorflowKernelConfigs(
  capabilities: TensorflowCapabilities,
  originals: TensorflowOriginalKernels,
): tf.KernelConfig[] {
  const portable = new Map(
    portableKernelConfigs("tensorflow").map((config) => [config.kernelName, config]),
  );
  const native: tf.KernelConfig[] = [
    tensorflowBatchNormTraining(capabilities),
    tensorflowBatchNormTrainingGrad(capabilities),
    tensorflowReluGrad(),
  ];
  if (capabilities.medfmKernels) {
    native.push(tensorflowBatchNormReluGradAdd(), tensorflowSgdMomentumUpdate());
  }
  const portableLinear = portable.get(MedfmLinear);
  if (capabilities.oneDnnFusedMatMul && portableLinear !== undefined) {
    native.push(tensorflowLinear(portableLinear));
  }
  const portableConv = portable.get(MedfmConv2dBatchNormRelu);
  if (capabilities.oneDnnFusedConv2d && portableConv !== undefined) {
    native.push(tensorflowConv2dBatchNormRelu(portableConv));
  }
  const portableGelu = portable.get(MedfmGelu);
  const portableGeluGrad = portable.get(MedfmGeluGrad);
  if (capabilities.medfmGelu && portableGelu !== undefined && portableGeluGrad !== undefined) {
    native.push(...tensorflowGelu({ gelu: portableGelu, geluGrad: portableGeluGrad }));
  }
  const portableSoftmax = portable.get(MedfmScaledSoftmax);
  const portableSoftmaxGrad = portable.get(MedfmScaledSoftmaxGrad);
  if (
    capabilities.medfmSoftmax &&
    portableSoftmax !== undefined &&
    portableSoftmaxGrad !== undefined
  ) {
    native.push(
      ...tensorflowScaledSoftmax(
        { softmax: portableSoftmax, softmaxGrad: portableSoftmaxGrad },
        capabilities.oneDnnSoftmax,
      ),
    );
  }
  const portableAttention = portable.get(MedfmAttention);
  if (capabilities.medfmAttention && portableAttention !== undefined) {
    native.push(tensorflowAttention(portableAttention));
  }
  const portableAttentionGrad = portable.get(MedfmAttentionGrad);
  if (capabilities.medfmAttentionGrad && portableAttentionGrad !== undefined) {
    native.push(tensorflowAttentionGrad(portableAttentionGrad));
  }
  const portableBatchNormRelu = portable.get(MedfmBatchNormRelu);
  if (capabilities.medfmBatchNormRelu && portableBatchNormRelu !== undefined) {
    native.push(tensorflowBatchNormRelu(portableBatchNormRelu));
  }
  const portableConcatBatchNormRelu = portable.get(MedfmConcatBatchNormRelu);
  if (capabilities.medfmConcatBatchNormRelu && portableConcatBatchNormRelu !== undefined) {
    native.push(tensorflowConcatBatchNormRelu(portableConcatBatchNormRelu));
  }
  const portableLayerNormGrad = portable.get(MedfmLayerNormGrad);
  if (capabilities.medfmLayerNormGrad && portableLayerNormGrad !== undefined) {
    native.push(tensorflowLayerNormGrad(portableLayerNormGrad));
  }
  const portableLayerNorm = portable.get(MedfmLayerNorm);
  if (capabilities.oneDnnLayerNorm && portableLayerNorm !== undefined) {
    native.push(tensorflowLayerNorm(portableLayerNorm));
  }
  if (capabilities.oneDnnMaxPoolGrad && originals.maxPoolGrad !== undefined) {
    native.push(tensorflowMaxPoolGrad(originals.maxPoolGrad));
  }
  if (capabilities.medfmConv2DBackpropFilter && originals.conv2DBackpropFilter !== undefined) {
    native.push(tensorflowConv2DBackpropFilter(originals.conv2DBackpropFilter));
  }
  if (capabilities.conv2DBackpropInputAsConv2D && originals.conv2DBackpropInput !== undefined) {
    native.push(
      tensorflowConv2DBackpropInput(
        originals.conv2DBackpropInput,
        capabilities.medfmFlipSwapFilter,
      ),
    );
  }
  if (capabilities.oneDnnSoftmax && originals.softmax !== undefined) {
    native.push(tensorflowSoftmax(originals.softmax));
  }
  if (capabilities.pointwiseConvAsMatMul) {
    // Around whichever kernel the table (or tfjs-node) has for the other convolutions.
    const wraps: Array<[string, (next: tf.KernelConfig) => tf.KernelConfig, tf.KernelConfig?]> = [
      [Conv2D, tensorflowPointwiseConv2D, originals.conv2D],
      [Conv2DBackpropInput, tensorflowPointwiseConv2DBackpropInput, originals.conv2DBackpropInput],
      [
        Conv2DBackpropFilter,
        tensorflowPointwiseConv2DBackpropFilter,
        originals.conv2DBackpropFilter,
      ],
    ];
    for (const [name, wrap, original] of wraps) {
      const index = native.findIndex((config) => config.kernelName === name);
      const next = index >= 0 ? native[index] : original;
      if (next === undefined) continue;
      if (index >= 0) native[index] = wrap(next);
      else native.push(wrap(next));
    }
  }
  for (const config of native) portable.delete(config.kernelName);
  return [...native, ...portable.values()];
}
