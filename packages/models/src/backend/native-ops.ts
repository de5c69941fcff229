import {
  MEDFM_OPS,
  MEDFM_OPS_BEFORE_SIGNATURES,
  type MedfmOpDeclaration,
  medfmOpSignature,
} from "@medfm/native-backend";
import * as tf from "@tensorflow/tfjs";
import type { BatchNormTrainingResult } from "./batch-norm-training";
import { exactGelu, exactGeluGrad } from "./exact-gelu";
import type { AttentionAttrs } from "./kernel-names";
import { attentionComposite, attentionGradComposite } from "./portable/attention";
import { batchNormReluComposite } from "./portable/batch-norm-relu";
import {
  type BatchNormParameters,
  conv2dBatchNormReluComposite,
} from "./portable/conv2d-batch-norm-relu";
import { layerNormComposite, layerNormInputGrad } from "./portable/layer-norm";
import { scaledSoftmaxComposite, scaledSoftmaxGradComposite } from "./portable/scaled-softmax";

/** The parts of tfjs-node's `NodeJSKernelBackend` used to run TensorFlow ops it has no kernel for. */
export interface NativeBackend {
  /** tfjs-node's native binding: attribute and dtype enums. */
  binding: {
    TF_ATTR_TYPE: number;
    TF_ATTR_FLOAT: number;
    TF_ATTR_STRING: number;
    TF_ATTR_BOOL: number;
    TF_ATTR_INT: number;
    TF_ATTR_SHAPE: number;
    TF_FLOAT: number;
    /** TensorFlow's `TF_INT32` dtype enum. */
    TF_INT32: number;
    /**
     * 1 when the binding registered @medfm/models' own TensorFlow kernels (`MedfmApplyMomentum`,
     * `MedfmBatchNormReluGrad`, `MedfmBatchNormReluGradAdd`; see
     * @medfm/native-backend's assets/medfm_kernels.cc, declared in its `MEDFM_OPS`), absent in
     * bindings built without them.
     */
    medfmKernels?: number;
  };
  /** Whether TensorFlow placed ops on a GPU (oneDNN's CPU kernels are then not there). */
  isUsingGpuDevice?: boolean;
  /** Runs a TensorFlow eager op by name; returns its first output as a tfjs tensor. */
  executeSingleOutput(name: string, attrs: NativeAttr[], inputs: tf.Tensor[]): tf.Tensor;
  /** Runs a TensorFlow eager op by name; returns `count` outputs as tfjs tensors. */
  executeMultipleOutputs(
    name: string,
    attrs: NativeAttr[],
    inputs: tf.Tensor[],
    count: number,
  ): tf.Tensor[];
}

/** One attribute of a TensorFlow op, as tfjs-node's binding takes it. */
export interface NativeAttr {
  /** Attribute name, e.g. `T` or `epsilon`. */
  name: string;
  /** The binding's `TF_ATTR_*` enum. */
  type: number;
  /**
   * The value: a number, string, boolean, dtype enum, a list of integers, a list of strings (a
   * binding patched by `medfm backend install` since list-of-string attributes were added; older
   * bindings throw "Argument is not a string!"), or, with `TF_ATTR_TYPE`, a list of dtype enums
   * (bindings patched since list-of-type attributes were added; older ones throw).
   */
  value: number | string | boolean | number[] | string[];
}

/**
 * The active backend when it is tfjs-node's `tensorflow` backend (which can run any TensorFlow op
 * by name), else undefined.
 */
export function activeNativeBackend(): NativeBackend | undefined {
  if (tf.getBackend() !== "tensorflow") return undefined;
  const backend = tf.backend() as unknown as Partial<NativeBackend>;
  if (
    typeof backend.executeMultipleOutputs !== "function" ||
    typeof backend.executeSingleOutput !== "function" ||
    backend.binding === undefined
  ) {
    return undefined;
  }
  return backend as NativeBackend;
}

function batchNormAttrs(
  backend: NativeBackend,
  epsilon: number,
  exponentialAverageFactor?: number,
): NativeAttr[] {
  const { binding } = backend;
  return [
    ...(exponentialAverageFactor === undefined
      ? []
      : [
          {
            name: "exponential_avg_factor",
            type: binding.TF_ATTR_FLOAT,
            value: exponentialAverageFactor,
          },
        ]),
    { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: "U", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: "epsilon", type: binding.TF_ATTR_FLOAT, value: epsilon },
    { name: "data_format", type: binding.TF_ATTR_STRING, value: "NHWC" },
    { name: "is_training", type: binding.TF_ATTR_BOOL, value: true },
  ];
}

/**
 * What TensorFlow's training-mode `FusedBatchNormV3` gives: the `MedfmBatchNormTraining`
 * kernel's outputs, with `reserve` TensorFlow's third reserve space (empty on CPU).
 */
export type NativeBatchNormResult = BatchNormTrainingResult;

/** Running estimates to fold the batch statistics into, inside the same op. */
export interface NativeRunningInput {
  /** The current running mean. */
  mean: tf.Tensor1D;
  /** The current running (unbiased) variance. */
  variance: tf.Tensor1D;
  /** Weight of the batch statistics in the new estimates. */
  momentum: number;
}

/**
 * Training-mode batch norm of an NHWC float32 tensor with TensorFlow's `FusedBatchNormV3`: one
 * native op for the statistics and the normalisation (tfjs-node's `FusedBatchNorm` kernel
 * only runs the inference mode). With `running`, the same op also gives the new running
 * estimates (its `exponential_avg_factor`, the Bessel-corrected variance, as torch updates
 * them). With `relu`, `y` is `relu(batch norm)`: with `oneDnn`, from oneDNN's
 * `_MklNativeFusedBatchNormEx` (the same values as `FusedBatchNormV3` then `Relu`, in one pass
 * over the data; see {@link hasOneDnnBatchNormRelu}), else from `FusedBatchNormV3` and `Relu`;
 * `reserve` is then empty, as {@link nativeBatchNormTrainingGrad} takes it. Not recorded on the
 * gradient tape.
 */
export function nativeBatchNormTraining(
  backend: NativeBackend,
  x: tf.Tensor4D,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  epsilon: number,
  running?: NativeRunningInput,
  relu = false,
  oneDnn = true,
): NativeBatchNormResult {
  if (relu && oneDnn) return runBatchNorm(backend, x, scale, offset, epsilon, running, "relu");
  const result = runBatchNorm(backend, x, scale, offset, epsilon, running, "none");
  if (!relu) return result;
  const { binding } = backend;
  const activated = backend.executeSingleOutput(
    "Relu",
    [{ name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT }],
    [result.y],
  ) as tf.Tensor4D;
  result.y.dispose();
  return { ...result, y: activated };
}

/**
 * Whether this TensorFlow build runs oneDNN's fused batch norm + ReLU
 * (`_MklNativeFusedBatchNormEx`): x86 CPU builds do, GPU builds and others do not. Runs the op
 * once on a tiny input; the tensorflow kernel table asks once, when it is registered.
 */
export function hasOneDnnBatchNormRelu(backend: NativeBackend): boolean {
  if (backend.isUsingGpuDevice === true) return false;
  return succeeds(() => {
    const x = tf.ones([1, 1, 2, 1]) as tf.Tensor4D;
    const vector = tf.ones([1]) as tf.Tensor1D;
    const result = runBatchNorm(backend, x, vector, vector, 1e-5, undefined, "relu");
    result.y.dataSync();
    tf.dispose([x, vector, result.y, result.mean, result.variance, result.reserve]);
  });
}

/**
 * Whether this TensorFlow build runs oneDNN's max-pool gradient kernels
 * ({@link nativeMaxPoolGrad}). Runs them once on a tiny input.
 */
export function hasOneDnnMaxPoolGrad(backend: NativeBackend): boolean {
  if (backend.isUsingGpuDevice === true) return false;
  return succeeds(() => {
    const x = tf.ones([1, 2, 2, 1]) as tf.Tensor4D;
    const y = tf.ones([1, 1, 1, 1]) as tf.Tensor4D;
    const dx = nativeMaxPoolGrad(backend, y, x, y, {
      filterSize: [2, 2],
      strides: [2, 2],
      padding: "VALID",
    });
    dx.dataSync();
    tf.dispose([x, y, dx]);
  });
}

/**
 * `activation(x·weight + bias)`, or `x·weight + bias + residual`, for float32 matrices with
 * oneDNN's fused inner product (`_MklNativeFusedMatMul` with `fused_ops` `[BiasAdd]`,
 * `[BiasAdd, GeluExact]` or `[BiasAdd, Add]`), which x86 builds carry and eager mode runs when
 * asked for by name: 20–30% faster than `MatMul`, `AddV2` and the four ops of an exact GELU on a
 * ViT-S MLP, and 0.5–1 ms per layer faster than a separate residual `AddV2`
 * (docs/native-backend.md). Needs a binding that passes list-of-string attributes (`medfm backend
 * install` since they were added). Not recorded on the gradient tape.
 */
export function nativeFusedMatMul(
  backend: NativeBackend,
  x: tf.Tensor2D,
  weight: tf.Tensor2D,
  bias: tf.Tensor1D,
  activation: "none" | "gelu",
  residual?: tf.Tensor2D,
): tf.Tensor2D {
  if (residual !== undefined && activation !== "none") {
    throw new RangeError(`nativeFusedMatMul: a residual goes with activation "none", not "gelu"`);
  }
  const { binding } = backend;
  const fusedOps =
    residual !== undefined
      ? ["BiasAdd", "Add"]
      : activation === "gelu"
        ? ["BiasAdd", "GeluExact"]
        : ["BiasAdd"];
  return backend.executeSingleOutput(
    "_MklNativeFusedMatMul",
    [
      { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
      { name: "transpose_a", type: binding.TF_ATTR_BOOL, value: false },
      { name: "transpose_b", type: binding.TF_ATTR_BOOL, value: false },
      { name: "num_args", type: binding.TF_ATTR_INT, value: residual === undefined ? 1 : 2 },
      { name: "fused_ops", type: binding.TF_ATTR_STRING, value: fusedOps },
      { name: "is_filter_const", type: binding.TF_ATTR_BOOL, value: false },
      // The label oneDNN's native-format kernels are registered under.
      { name: "_kernel", type: binding.TF_ATTR_STRING, value: "MklNameChangeOp" },
    ],
    residual === undefined ? [x, weight, bias] : [x, weight, bias, residual],
  ) as tf.Tensor2D;
}

/**
 * Whether this TensorFlow build and binding run {@link nativeFusedMatMul} (x86 CPU builds with a
 * binding that passes list-of-string attributes) and give `x·weight + bias`, its exact GELU and
 * its sum with a residual within 1e-5 of the separate ops. Runs it once on a tiny input.
 */
export function hasOneDnnFusedMatMul(backend: NativeBackend): boolean {
  if (backend.isUsingGpuDevice === true) return false;
  return agreesWithin(1e-5, () => {
    const x = tf.tensor2d([0.5, -1, 2, 0.25, -0.75, 1.5], [2, 3]);
    const weight = tf.tensor2d([1, -2, 0.5, 0.25, -1, 3], [3, 2]);
    const bias = tf.tensor1d([0.1, -0.2]);
    const z = tf.add(tf.matMul(x, weight), bias);
    const residual = tf.tensor2d([0.3, -0.6, 1.2, 2.5], [2, 2]);
    return [
      [nativeFusedMatMul(backend, x, weight, bias, "none"), z],
      [nativeFusedMatMul(backend, x, weight, bias, "gelu"), exactGelu(z)],
      [nativeFusedMatMul(backend, x, weight, bias, "none", residual), tf.add(z, residual)],
    ];
  });
}

/**
 * `relu(batchNorm(conv2d(x, filter)))` with running statistics as oneDNN's fused convolution
 * (`_MklNativeFusedConv2D` with `fused_ops` `[FusedBatchNorm, Relu]`), which x86 builds carry and
 * eager mode runs when asked for by name. Timed apart (DenseNet's 56×56, 128 → 128 1×1
 * convolution, batch 8) it takes about half the time of `Conv2D`, `FusedBatchNorm` and `Relu`
 * (docs/native-backend.md). Needs a binding that passes list-of-string and list-of-type
 * attributes (`medfm backend install` since they were added). Not recorded on the gradient tape.
 */
export function nativeFusedConv2dBatchNormRelu(
  backend: NativeBackend,
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  norm: BatchNormParameters,
  options: { stride: number; padding: "valid" | "same"; epsilon: number },
): tf.Tensor4D {
  const { binding } = backend;
  return backend.executeSingleOutput(
    "_MklNativeFusedConv2D",
    [
      { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
      { name: "TArgs", type: binding.TF_ATTR_TYPE, value: new Array(4).fill(binding.TF_FLOAT) },
      { name: "num_args", type: binding.TF_ATTR_INT, value: 4 },
      {
        name: "strides",
        type: binding.TF_ATTR_INT,
        value: [1, options.stride, options.stride, 1],
      },
      { name: "padding", type: binding.TF_ATTR_STRING, value: options.padding.toUpperCase() },
      { name: "data_format", type: binding.TF_ATTR_STRING, value: "NHWC" },
      { name: "dilations", type: binding.TF_ATTR_INT, value: [1, 1, 1, 1] },
      { name: "fused_ops", type: binding.TF_ATTR_STRING, value: ["FusedBatchNorm", "Relu"] },
      { name: "epsilon", type: binding.TF_ATTR_FLOAT, value: options.epsilon },
      { name: "is_filter_const", type: binding.TF_ATTR_BOOL, value: false },
      // The label oneDNN's native-format kernels are registered under.
      { name: "_kernel", type: binding.TF_ATTR_STRING, value: "MklNameChangeOp" },
    ],
    [x, filter, norm.scale, norm.offset, norm.mean, norm.variance],
  ) as tf.Tensor4D;
}

/**
 * Whether this TensorFlow build and binding run {@link nativeFusedConv2dBatchNormRelu} (x86 CPU
 * builds with a binding that passes list attributes) and give the separate ops' values within
 * 1e-5, for a 1×1 "valid" and a 3×3 strided "same" convolution. Runs each once on a tiny input.
 */
export function hasOneDnnFusedConv2d(backend: NativeBackend): boolean {
  if (backend.isUsingGpuDevice === true) return false;
  return agreesWithin(1e-5, () => {
    const x = tf.tensor4d(
      Array.from({ length: 2 * 5 * 5 * 3 }, (_, index) => Math.sin(index * 0.7)),
      [2, 5, 5, 3],
    );
    const norm = {
      scale: tf.tensor1d([1.5, -0.5]),
      offset: tf.tensor1d([0.1, 0.3]),
      mean: tf.tensor1d([0.2, -0.1]),
      variance: tf.tensor1d([0.8, 1.7]),
    };
    return (
      [
        [1, 1, "valid"],
        [3, 2, "same"],
      ] as const
    ).map(([size, stride, padding]): [tf.Tensor, tf.Tensor] => {
      const filter = tf.tensor4d(
        Array.from({ length: size * size * 3 * 2 }, (_, index) => Math.cos(index * 1.3)),
        [size, size, 3, 2],
      );
      const attrs = { stride, padding, epsilon: 1e-3 };
      return [
        nativeFusedConv2dBatchNormRelu(backend, x, filter, norm, attrs),
        conv2dBatchNormReluComposite(x, filter, norm, attrs),
      ];
    });
  });
}

/**
 * Layer norm over the last axis of a float32 tensor with oneDNN's `_MklLayerNorm` (x86 builds
 * carry it; eager mode runs it when asked for by name): one op where the composite runs eight,
 * about a fifth of their time on ViT-S's 197 × 384 tokens (docs/native-backend.md). The kernel
 * takes 2-D and 3-D inputs; others are reshaped to 2-D around it. Not recorded on the gradient
 * tape.
 */
export function nativeLayerNorm(
  backend: NativeBackend,
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  epsilon: number,
): tf.Tensor {
  const { binding } = backend;
  const run = (input: tf.Tensor): tf.Tensor =>
    backend.executeSingleOutput(
      "_MklLayerNorm",
      [
        { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
        { name: "epsilon", type: binding.TF_ATTR_FLOAT, value: epsilon },
        // oneDNN's eager rewrite labels every `_Mkl` op `MklNameChangeOp`, but this kernel is
        // registered without a label: an explicit empty one finds it.
        { name: "_kernel", type: binding.TF_ATTR_STRING, value: "" },
      ],
      [input, scale, offset],
    );
  if (x.rank === 2 || x.rank === 3) return run(x);
  return tf.tidy(() => {
    const channels = x.shape[x.rank - 1] ?? 1;
    return tf.reshape(run(tf.reshape(x, [-1, channels])), x.shape);
  });
}

/**
 * Whether this TensorFlow build runs {@link nativeLayerNorm} and gives the composite's values
 * within 1e-5 (x86 CPU builds). Runs it once on a tiny input.
 */
export function hasOneDnnLayerNorm(backend: NativeBackend): boolean {
  if (backend.isUsingGpuDevice === true) return false;
  return agreesWithin(1e-5, () => {
    const x = tf.tensor2d([0.5, -1, 2, 0.25, -0.75, 1.5, 3, -2], [2, 4]);
    const scale = tf.tensor1d([1, -2, 0.5, 0.25]);
    const offset = tf.tensor1d([0.1, -0.2, 0.3, 0]);
    return [
      [
        nativeLayerNorm(backend, x, scale, offset, 1e-5),
        layerNormComposite(x, scale, offset, 1e-5),
      ],
    ];
  });
}

/**
 * Softmax over the last axis of a float32 tensor with oneDNN's `_MklSoftmax`: about half the
 * time of TensorFlow's `Softmax` (which tfjs-node runs) on ViT-S's attention scores
 * (docs/native-backend.md). Not recorded on the gradient tape.
 */
export function nativeSoftmax(backend: NativeBackend, logits: tf.Tensor): tf.Tensor {
  const { binding } = backend;
  return backend.executeSingleOutput(
    "_MklSoftmax",
    [
      { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
      // The label oneDNN's native-format kernels are registered under.
      { name: "_kernel", type: binding.TF_ATTR_STRING, value: "MklNameChangeOp" },
    ],
    [logits],
  );
}

/**
 * Whether this TensorFlow build runs {@link nativeSoftmax} and gives `Softmax`'s values within
 * 1e-6 (x86 CPU builds). Runs it once on a tiny input.
 */
export function hasOneDnnSoftmax(backend: NativeBackend): boolean {
  if (backend.isUsingGpuDevice === true) return false;
  return agreesWithin(1e-6, () => {
    const logits = tf.tensor3d([0.5, -1, 2, 0.25, -0.75, 1.5, 3, -2], [2, 1, 4]);
    const expected = backend.executeSingleOutput(
      "Softmax",
      [{ name: "T", type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT }],
      [logits],
    );
    return [[nativeSoftmax(backend, logits), expected]];
  });
}

/**
 * Exact GELU of a float32 tensor (`MedfmGelu`), or with `dy` its gradient (`MedfmGeluGrad`), in
 * one native op of ours (see {@link hasMedfmGelu}) where tfjs's composite runs four ops and its
 * autodiff eight. Not recorded on the gradient tape.
 */
export function nativeGelu(backend: NativeBackend, x: tf.Tensor, dy?: tf.Tensor): tf.Tensor {
  return dy === undefined
    ? backend.executeSingleOutput(MEDFM_OPS.gelu.name, [], [x])
    : backend.executeSingleOutput(MEDFM_OPS.geluGrad.name, [], [dy, x]);
}

/**
 * Whether the binding carries the GELU kernels of {@link nativeGelu} (bindings provisioned by
 * `medfm backend install` since they were added) and they give the composites' values within
 * 1e-6. Runs each once on a tiny input.
 */
export function hasMedfmGelu(backend: NativeBackend): boolean {
  if (!hasMedfmOp(backend, MEDFM_OPS.gelu) || !hasMedfmOp(backend, MEDFM_OPS.geluGrad))
    return false;
  return agreesWithin(1e-6, () => {
    const x = tf.tensor1d([-5, -1.5, -0.3, 0, 0.2, 1, 2.5, 6]);
    const dy = tf.tensor1d([1, -2, 0.5, 3, 1, -1, 0.25, 2]);
    return [
      [nativeGelu(backend, x), exactGelu(x)],
      [nativeGelu(backend, x, dy), exactGeluGrad(dy, x)],
    ];
  });
}

/**
 * `softmax(scale·logits)` over the last axis of a float32 tensor (`MedfmSoftmax`), or with `y`
 * (its output) the gradient `scale·y·(dy − Σ dy·y)` of `first` as `dy` (`MedfmSoftmaxGrad`), in
 * one native op of ours (see {@link hasMedfmSoftmax}) where the composites run two and five ops.
 * Not recorded on the gradient tape.
 */
export function nativeScaledSoftmax(
  backend: NativeBackend,
  first: tf.Tensor,
  scale: number,
  y?: tf.Tensor,
): tf.Tensor {
  const attrs = [{ name: "scale", type: backend.binding.TF_ATTR_FLOAT, value: scale }];
  return y === undefined
    ? backend.executeSingleOutput(MEDFM_OPS.softmax.name, attrs, [first])
    : backend.executeSingleOutput(MEDFM_OPS.softmaxGrad.name, attrs, [first, y]);
}

/**
 * Whether the binding carries the softmax kernels of {@link nativeScaledSoftmax} (bindings
 * provisioned by `medfm backend install` since they were added) and they give the composites'
 * values within 1e-6. Runs each once on a tiny input, a masked (−∞) logit included.
 */
export function hasMedfmSoftmax(backend: NativeBackend): boolean {
  if (!hasMedfmOp(backend, MEDFM_OPS.softmax) || !hasMedfmOp(backend, MEDFM_OPS.softmaxGrad))
    return false;
  return agreesWithin(1e-6, () => {
    const logits = tf.tensor3d([0.5, -1, 2, -Infinity, -0.75, 1.5, 3, -2], [2, 1, 4]);
    const dy = tf.tensor3d([1, -2, 0.5, 3, 1, -1, 0.25, 2], [2, 1, 4]);
    const y = scaledSoftmaxComposite(logits, 0.7);
    return [
      [nativeScaledSoftmax(backend, logits, 0.7), y],
      [nativeScaledSoftmax(backend, dy, 0.7, y), scaledSoftmaxGradComposite(dy, y, 0.7)],
    ];
  });
}

/**
 * Multi-head self-attention from a fused qkv projection (see {@link MedfmAttention}) in one
 * native op of ours (`MedfmAttention`, see {@link hasMedfmAttention}) where the composite runs
 * eight: returns `[context, probabilities]`. Not recorded on the gradient tape.
 */
export function nativeAttention(
  backend: NativeBackend,
  qkv: tf.Tensor3D,
  attrs: AttentionAttrs,
): [tf.Tensor3D, tf.Tensor4D] {
  // An empty [heads, queries, 0] tensor: its shape gives TensorFlow's shape inference the outputs'
  // shapes, which asynchronous execution needs to go on without waiting for the op.
  const layout = tf.zeros([attrs.heads, attrs.queries === 0 ? qkv.shape[1] : attrs.queries, 0]);
  try {
    return backend.executeMultipleOutputs(
      MEDFM_OPS.attention.name,
      attentionOpAttrs(backend, attrs),
      [qkv, layout],
      2,
    ) as [tf.Tensor3D, tf.Tensor4D];
  } finally {
    layout.dispose();
  }
}

/** The attributes of `MedfmAttention` and `MedfmAttentionGrad`, as the binding takes them. */
function attentionOpAttrs(backend: NativeBackend, { heads, queries, scale }: AttentionAttrs) {
  const { binding } = backend;
  return [
    { name: "heads", type: binding.TF_ATTR_INT, value: heads },
    { name: "queries", type: binding.TF_ATTR_INT, value: queries },
    { name: "scale", type: binding.TF_ATTR_FLOAT, value: scale },
  ];
}

/**
 * Whether the binding carries {@link nativeAttention} (bindings provisioned by
 * `medfm backend install` since it was added) and it gives the composite's context and
 * probabilities within 1e-5, with 8 channels per head (the vector path where the CPU has it)
 * and with 3 (the plain loops), all queries and the first 2.
 */
export function hasMedfmAttention(backend: NativeBackend): boolean {
  if (!hasMedfmOp(backend, MEDFM_OPS.attention)) return false;
  return agreesWithin(1e-5, () =>
    [8, 3].flatMap((depth) => {
      const qkv = tf.randomNormal([2, 5, 3 * 2 * depth], 0, 1, "float32", depth) as tf.Tensor3D;
      return [0, 2].flatMap((queries) => {
        const attrs = { heads: 2, queries, scale: 0.4 };
        const ours = nativeAttention(backend, qkv, attrs);
        const reference = attentionComposite(qkv, attrs);
        return [
          [ours[0], reference[0]],
          [ours[1], reference[1]],
        ] as Array<[tf.Tensor, tf.Tensor]>;
      });
    }),
  );
}

/**
 * The gradient of {@link nativeAttention} in `qkv` (see {@link MedfmAttentionGrad}) in one
 * native op of ours (`MedfmAttentionGrad`, see {@link hasMedfmAttentionGrad}), per (image, head)
 * in cache, where the composite runs about twenty ops. Not recorded on the gradient tape.
 */
export function nativeAttentionGrad(
  backend: NativeBackend,
  qkv: tf.Tensor3D,
  probabilities: tf.Tensor4D,
  dContext: tf.Tensor3D,
  dProbabilities: tf.Tensor4D,
  attrs: AttentionAttrs,
): tf.Tensor3D {
  return backend.executeSingleOutput(
    MEDFM_OPS.attentionGrad.name,
    attentionOpAttrs(backend, attrs),
    [qkv, probabilities, dContext, dProbabilities],
  ) as tf.Tensor3D;
}

/**
 * Whether the binding carries {@link nativeAttentionGrad} (bindings provisioned by
 * `medfm backend install` since it was added) and it gives the composite's gradient within
 * 1e-5, with 8 channels per head (the vector path where the CPU has it) and with 3 (the plain
 * loops), all queries and the first 2.
 */
export function hasMedfmAttentionGrad(backend: NativeBackend): boolean {
  if (!hasMedfmOp(backend, MEDFM_OPS.attentionGrad)) return false;
  return agreesWithin(1e-5, () =>
    [8, 3].flatMap((depth) => {
      const qkv = tf.randomNormal([2, 5, 3 * 2 * depth], 0, 1, "float32", depth) as tf.Tensor3D;
      return [0, 2].map((queries) => {
        const attrs = { heads: 2, queries, scale: 0.4 };
        const rows = queries === 0 ? 5 : queries;
        const [, probabilities] = attentionComposite(qkv, attrs);
        const dContext = tf.randomNormal([2, rows, 2 * depth], 0, 1, "float32", 7) as tf.Tensor3D;
        const dProbabilities = tf.randomNormal([2, 2, rows, 5], 0, 1, "float32", 8) as tf.Tensor4D;
        return [
          nativeAttentionGrad(backend, qkv, probabilities, dContext, dProbabilities, attrs),
          attentionGradComposite(qkv, probabilities, dContext, dProbabilities, attrs),
        ] as [tf.Tensor, tf.Tensor];
      });
    }),
  );
}

/**
 * The input gradient of a layer norm over the last axis of float32 tensors in one native op of
 * ours (`MedfmLayerNormGrad`, see {@link hasMedfmLayerNormGrad}), row by row, where the tfjs
 * formula runs fifteen ops. Not recorded on the gradient tape.
 */
export function nativeLayerNormGrad(
  backend: NativeBackend,
  dy: tf.Tensor,
  x: tf.Tensor,
  scale: tf.Tensor1D,
  epsilon: number,
): tf.Tensor {
  return backend.executeSingleOutput(
    MEDFM_OPS.layerNormGrad.name,
    [{ name: "epsilon", type: backend.binding.TF_ATTR_FLOAT, value: epsilon }],
    [dy, x, scale],
  );
}

/**
 * Whether the binding carries {@link nativeLayerNormGrad} (bindings provisioned by `medfm backend
 * install` since it was added) and it gives the tfjs formula's values within 1e-5. Runs it once
 * on a tiny input.
 */
export function hasMedfmLayerNormGrad(backend: NativeBackend): boolean {
  if (!hasMedfmOp(backend, MEDFM_OPS.layerNormGrad)) return false;
  return agreesWithin(1e-5, () => {
    const x = tf.tensor2d([0.5, -1, 2, 0.25, -0.75, 1.5, 3, -2], [2, 4]);
    const dy = tf.tensor2d([1, -2, 0.5, 3, 1, -1, 0.25, 2], [2, 4]);
    const scale = tf.tensor1d([1, -2, 0.5, 0.25]);
    return [
      [nativeLayerNormGrad(backend, dy, x, scale, 1e-5), layerNormInputGrad(dy, x, scale, 1e-5)],
    ];
  });
}

/**
 * `relu(batchNorm(x))` with running statistics for a float32 channels-last tensor in one native
 * op of ours (`MedfmBatchNormRelu`, see {@link hasMedfmBatchNormRelu}), one pass over the data
 * where TensorFlow runs `FusedBatchNorm` then `Relu`. Not recorded on the gradient tape.
 */
export function nativeBatchNormRelu(
  backend: NativeBackend,
  x: tf.Tensor,
  norm: BatchNormParameters,
  epsilon: number,
): tf.Tensor {
  return backend.executeSingleOutput(
    MEDFM_OPS.batchNormRelu.name,
    [{ name: "epsilon", type: backend.binding.TF_ATTR_FLOAT, value: epsilon }],
    [x, norm.scale, norm.offset, norm.mean, norm.variance],
  );
}

/**
 * Whether the binding carries {@link nativeBatchNormRelu} (bindings provisioned by `medfm
 * backend install` since it was added) and it gives the composite's values within 1e-5. Runs it
 * once on a tiny input.
 */
export function hasMedfmBatchNormRelu(backend: NativeBackend): boolean {
  if (!hasMedfmOp(backend, MEDFM_OPS.batchNormRelu)) return false;
  return agreesWithin(1e-5, () => {
    const x = tf.tensor4d([0.5, -1, 2, 0.25, -0.75, 1.5, 3, -2], [1, 2, 2, 2]);
    const norm = {
      scale: tf.tensor1d([1.5, -0.5]),
      offset: tf.tensor1d([0.1, 0.3]),
      mean: tf.tensor1d([0.2, -0.1]),
      variance: tf.tensor1d([0.8, 1.7]),
    };
    return [[nativeBatchNormRelu(backend, x, norm, 1e-3), batchNormReluComposite(x, norm, 1e-3)]];
  });
}

/**
 * `relu(batchNorm(concat(pieces, last axis)))` with running statistics, float32, in one native op
 * of ours (`MedfmConcatBatchNormRelu`, see {@link hasMedfmConcatBatchNormRelu}) that reads the
 * pieces where they are: the concatenation is never made. `norm`'s vectors hold as many values as
 * the pieces' channels together. Not recorded on the gradient tape.
 */
export function nativeConcatBatchNormRelu(
  backend: NativeBackend,
  pieces: readonly tf.Tensor[],
  norm: BatchNormParameters,
  epsilon: number,
): tf.Tensor {
  const { binding } = backend;
  return backend.executeSingleOutput(
    MEDFM_OPS.concatBatchNormRelu.name,
    [
      { name: "N", type: binding.TF_ATTR_INT, value: pieces.length },
      { name: "epsilon", type: binding.TF_ATTR_FLOAT, value: epsilon },
    ],
    [...pieces, norm.scale, norm.offset, norm.mean, norm.variance],
  );
}

/**
 * Whether the binding carries {@link nativeConcatBatchNormRelu} (bindings provisioned by `medfm
 * backend install` since it was added) and it gives the composite's values (concatenation, then
 * {@link batchNormReluComposite}) within 1e-5. Runs it once on three tiny pieces of 2, 1 and 3
 * channels.
 */
export function hasMedfmConcatBatchNormRelu(backend: NativeBackend): boolean {
  if (!hasMedfmOp(backend, MEDFM_OPS.concatBatchNormRelu)) return false;
  return agreesWithin(1e-5, () => {
    const pieces = [
      tf.tensor4d([0.5, -1, 2, 0.25, -0.75, 1.5], [1, 3, 1, 2]),
      tf.tensor4d([3, -2, 0.125], [1, 3, 1, 1]),
      tf.tensor4d([1, -1, 0.5, -0.5, 2, -2, 0.75, 0.25, -3], [1, 3, 1, 3]),
    ];
    const norm = {
      scale: tf.tensor1d([1.5, -0.5, 2, 0.75, -1, 0.25]),
      offset: tf.tensor1d([0.1, 0.3, -0.2, 0.4, 0.05, -0.1]),
      mean: tf.tensor1d([0.2, -0.1, 0.5, 0, -0.3, 0.1]),
      variance: tf.tensor1d([0.8, 1.7, 0.5, 1, 2.5, 0.3]),
    };
    return [
      [
        nativeConcatBatchNormRelu(backend, pieces, norm, 1e-3),
        batchNormReluComposite(tf.concat(pieces, 3), norm, 1e-3),
      ],
    ];
  });
}

/**
 * Training-mode `relu(batchNorm(x))` of a float32 channels-last tensor in one native op of ours
 * (`MedfmBatchNormReluTraining`, see {@link hasMedfmBatchNormReluTraining}): the batch's
 * statistics in one pass (float sums over blocks of 64 rows, added in double, shifted by the
 * first row), then the normalisation and ReLU in a second, where oneDNN's
 * `_MklNativeFusedBatchNormEx` takes twice as long here. With `running`, the same op gives the
 * new running estimates as {@link nativeBatchNormTraining} does; `reserve` is empty. Not
 * recorded on the gradient tape.
 */
export function nativeBatchNormReluTraining(
  backend: NativeBackend,
  x: tf.Tensor4D,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  epsilon: number,
  running?: NativeRunningInput,
): NativeBatchNormResult {
  const { binding } = backend;
  const empty = running === undefined ? tf.tensor1d([], "float32") : undefined;
  let outputs: tf.Tensor[];
  try {
    outputs = backend.executeMultipleOutputs(
      MEDFM_OPS.batchNormReluTraining.name,
      [
        { name: "epsilon", type: binding.TF_ATTR_FLOAT, value: epsilon },
        { name: "momentum", type: binding.TF_ATTR_FLOAT, value: running?.momentum ?? 0 },
      ],
      [
        x,
        scale,
        offset,
        running?.mean ?? (empty as tf.Tensor),
        running?.variance ?? (empty as tf.Tensor),
      ],
      6,
    );
  } finally {
    empty?.dispose();
  }
  const [y, mean, variance, reserve, runningMean, runningVariance] = outputs as [
    tf.Tensor4D,
    tf.Tensor1D,
    tf.Tensor1D,
    tf.Tensor,
    tf.Tensor1D,
    tf.Tensor1D,
  ];
  if (running === undefined) {
    tf.dispose([runningMean, runningVariance]);
    return { y, mean, variance, reserve };
  }
  return { y, mean, variance, reserve, runningMean, runningVariance };
}

/**
 * Whether the binding carries {@link nativeBatchNormReluTraining} (bindings provisioned by
 * `medfm backend install` since it was added) and it gives `FusedBatchNormV3` then `Relu`'s
 * values and running estimates within 1e-5. Runs it once on a tiny input.
 */
export function hasMedfmBatchNormReluTraining(backend: NativeBackend): boolean {
  if (!hasMedfmOp(backend, MEDFM_OPS.batchNormReluTraining)) return false;
  return agreesWithin(1e-5, () => {
    const x = tf.tensor4d([0.5, -1, 2, 0.25, -0.75, 1.5, 3, -2, 1, 0.5, -0.5, 4], [1, 3, 2, 2]);
    const scale = tf.tensor1d([1.5, -0.5]);
    const offset = tf.tensor1d([0.1, 0.3]);
    const running = {
      mean: tf.tensor1d([0.2, -0.1]),
      variance: tf.tensor1d([0.8, 1.7]),
      momentum: 0.1,
    };
    const ours = nativeBatchNormReluTraining(backend, x, scale, offset, 1e-3, running);
    const theirs = nativeBatchNormTraining(backend, x, scale, offset, 1e-3, running, true, false);
    // Both give running estimates, since `running` is passed (an absent one fails the probe).
    const missing = tf.scalar(Number.NaN);
    return [
      [ours.y, theirs.y],
      [ours.mean, theirs.mean],
      [ours.variance, theirs.variance],
      [ours.runningMean ?? missing, theirs.runningMean ?? missing],
      [ours.runningVariance ?? missing, theirs.runningVariance ?? missing],
    ];
  });
}

/**
 * The filter gradient of a stride-1, undilated NHWC convolution of float32 tensors in one native
 * op of ours (`MedfmConv2DBackpropFilter`, see {@link hasMedfmConv2DBackpropFilter}):
 * `dw[i, j, c, o] = Σ x[n, h + i − padTop, w + j − padLeft, c] · dy[n, h, w, o]`, x read as zero
 * outside its bounds, with dy's height and width those of the convolution's output. On CPUs with
 * AVX2 but not AVX-512 it runs 1.1–3.9× faster than TensorFlow's `Conv2DBackpropFilter`
 * (oneDNN) on DenseNet's shapes (docs/native-backend.md). Not recorded on the gradient tape.
 */
export function nativeConv2DBackpropFilter(
  backend: NativeBackend,
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterSize: [number, number],
  padTop: number,
  padLeft: number,
): tf.Tensor4D {
  const { binding } = backend;
  // The op reads the filter's height and width from this empty tensor's shape, so that its
  // shape function (which cannot read attributes) gives the output's shape.
  const filterLike = tf.zeros([filterSize[0], filterSize[1], 0, 0]);
  try {
    return backend.executeSingleOutput(
      MEDFM_OPS.conv2DBackpropFilter.name,
      [
        { name: "pad_top", type: binding.TF_ATTR_INT, value: padTop },
        { name: "pad_left", type: binding.TF_ATTR_INT, value: padLeft },
      ],
      [x, dy, filterLike],
    ) as tf.Tensor4D;
  } finally {
    filterLike.dispose();
  }
}

/**
 * The attributes of TensorFlow's convolution-gradient ops for a stride-1, undilated NHWC float32
 * convolution with `padding`, as {@link nativeTensorflowFilterGradient},
 * {@link nativeTensorflowInputGradient} and (for `Conv2D`, with its explicit paddings after
 * them) {@link nativeConv2DBackpropInputAsConv2D} pass them.
 */
function stride1ConvolutionAttrs(
  backend: NativeBackend,
  padding: "SAME" | "VALID" | "EXPLICIT",
): NativeAttr[] {
  const { binding } = backend;
  return [
    { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: "strides", type: binding.TF_ATTR_INT, value: [1, 1, 1, 1] },
    { name: "padding", type: binding.TF_ATTR_STRING, value: padding },
    { name: "data_format", type: binding.TF_ATTR_STRING, value: "NHWC" },
    { name: "dilations", type: binding.TF_ATTR_INT, value: [1, 1, 1, 1] },
  ];
}

/**
 * TensorFlow's own `Conv2DBackpropFilter` op, run by name, for a stride-1 NHWC float32
 * convolution: the reference {@link nativeConv2DBackpropFilter} is checked against (tfjs's
 * `Conv2DBackpropFilter` kernel may be ours once the kernel table is registered). Not recorded
 * on the gradient tape.
 */
export function nativeTensorflowFilterGradient(
  backend: NativeBackend,
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  padding: "SAME" | "VALID",
): tf.Tensor4D {
  const sizes = tf.tensor1d(filterShape, "int32");
  try {
    return backend.executeSingleOutput(
      "Conv2DBackpropFilter",
      stride1ConvolutionAttrs(backend, padding),
      [x, sizes, dy],
    ) as tf.Tensor4D;
  } finally {
    sizes.dispose();
  }
}

/**
 * The input gradient of a stride-1, undilated NHWC convolution of float32 tensors as one forward
 * TensorFlow `Conv2D`: `dy` convolved with the filter flipped in both spatial axes and with its
 * channel axes swapped (by {@link nativeFlipSwapFilter} where `medfmFlip`, else by `ReverseV2`
 * and `Transpose`; a 1×1 filter is only transposed), padded by `pads` =
 * `[top, bottom, left, right]`, each `filterSize − 1 −` the forward convolution's padding on
 * that side (all ≥ 0). On CPUs with AVX2 but not AVX-512,
 * oneDNN's forward convolution runs 1.2–2.4× faster than its `Conv2DBackpropInput` on DenseNet's
 * shapes from 14×14 up (docs/native-backend.md). Not recorded on the gradient tape.
 */
export function nativeConv2DBackpropInputAsConv2D(
  backend: NativeBackend,
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  pads: readonly [number, number, number, number],
  medfmFlip = false,
): tf.Tensor4D {
  const { binding } = backend;
  const swapped = medfmFlip
    ? nativeFlipSwapFilter(backend, filter)
    : tensorflowFlipSwapFilter(backend, filter);
  try {
    const [top, bottom, left, right] = pads;
    return backend.executeSingleOutput(
      "Conv2D",
      [
        ...stride1ConvolutionAttrs(backend, "EXPLICIT"),
        {
          name: "explicit_paddings",
          type: binding.TF_ATTR_INT,
          value: [0, 0, top, bottom, left, right, 0, 0],
        },
        { name: "use_cudnn_on_gpu", type: binding.TF_ATTR_BOOL, value: true },
      ],
      [dy, swapped],
    ) as tf.Tensor4D;
  } finally {
    swapped.dispose();
  }
}

/**
 * What {@link nativeFlipSwapFilter} computes, with TensorFlow's `ReverseV2` (skipped for a 1×1
 * filter) and `Transpose`: the form for bindings without our op, and its probe's reference.
 */
export function tensorflowFlipSwapFilter(backend: NativeBackend, filter: tf.Tensor4D): tf.Tensor4D {
  const { binding } = backend;
  const type = { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT };
  const index = (name: string) => ({ name, type: binding.TF_ATTR_TYPE, value: binding.TF_INT32 });
  const temporaries: tf.Tensor[] = [];
  try {
    let flipped: tf.Tensor = filter;
    if (filter.shape[0] * filter.shape[1] > 1) {
      const axes = tf.tensor1d([0, 1], "int32");
      temporaries.push(axes);
      flipped = backend.executeSingleOutput("ReverseV2", [type, index("Tidx")], [filter, axes]);
      temporaries.push(flipped);
    }
    const permutation = tf.tensor1d([0, 1, 3, 2], "int32");
    temporaries.push(permutation);
    return backend.executeSingleOutput(
      "Transpose",
      [type, index("Tperm")],
      [flipped, permutation],
    ) as tf.Tensor4D;
  } finally {
    tf.dispose(temporaries);
  }
}

/**
 * A convolution filter `[KH, KW, C, O]` flipped in both spatial axes and with its channel axes
 * swapped, `[KH, KW, O, C]`, in one native op of ours (`MedfmFlipSwapFilter`, see
 * {@link hasMedfmFlipSwapFilter}): what `ReverseV2` then `Transpose` give, without their index
 * tensors. Not recorded on the gradient tape.
 */
export function nativeFlipSwapFilter(backend: NativeBackend, filter: tf.Tensor4D): tf.Tensor4D {
  return backend.executeSingleOutput(MEDFM_OPS.flipSwapFilter.name, [], [filter]) as tf.Tensor4D;
}

/**
 * Whether the binding carries {@link nativeFlipSwapFilter} (bindings provisioned by
 * `medfm backend install` since it was added) and it gives exactly what `ReverseV2` and
 * `Transpose` give, on a 3×2 filter with 5 input and 19 output channels (tiles of 16 and a
 * remainder).
 */
export function hasMedfmFlipSwapFilter(backend: NativeBackend): boolean {
  if (!hasMedfmOp(backend, MEDFM_OPS.flipSwapFilter)) return false;
  return agreesWithin(Number.MIN_VALUE, () => {
    const filter = tf.tensor4d(
      Array.from({ length: 3 * 2 * 5 * 19 }, (_, i) => i),
      [3, 2, 5, 19],
    );
    return [[nativeFlipSwapFilter(backend, filter), tensorflowFlipSwapFilter(backend, filter)]];
  });
}

/**
 * TensorFlow's own `Conv2DBackpropInput` op, run by name, for a stride-1 NHWC float32
 * convolution: the reference {@link nativeConv2DBackpropInputAsConv2D} is checked against
 * (tfjs's `Conv2DBackpropInput` kernel may be ours once the kernel table is registered). Not
 * recorded on the gradient tape.
 */
export function nativeTensorflowInputGradient(
  backend: NativeBackend,
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: [number, number, number, number],
  padding: "SAME" | "VALID",
): tf.Tensor4D {
  const sizes = tf.tensor1d(inputShape, "int32");
  try {
    return backend.executeSingleOutput(
      "Conv2DBackpropInput",
      stride1ConvolutionAttrs(backend, padding),
      [sizes, filter, dy],
    ) as tf.Tensor4D;
  } finally {
    sizes.dispose();
  }
}

/**
 * Whether the binding carries {@link nativeConv2DBackpropFilter} (bindings provisioned by
 * `medfm backend install` since it was added) and it gives TensorFlow's `Conv2DBackpropFilter`
 * values within 1e-4: on a 3×3 "same" case with an odd channel count and outputs that are no
 * multiple of 8, and a non-square (1×2) "valid" one.
 */
export function hasMedfmConv2DBackpropFilter(backend: NativeBackend): boolean {
  if (!hasMedfmOp(backend, MEDFM_OPS.conv2DBackpropFilter)) return false;
  return agreesWithin(1e-4, () => {
    const values = (count: number, step: number) =>
      Array.from({ length: count }, (_, i) => (((i * step) % 17) - 8) / 8);
    const x = tf.tensor4d(values(2 * 4 * 5 * 3, 7), [2, 4, 5, 3]);
    const same = tf.tensor4d(values(2 * 4 * 5 * 11, 5), [2, 4, 5, 11]);
    const valid = tf.tensor4d(values(2 * 4 * 4 * 2, 3), [2, 4, 4, 2]);
    return [
      [
        nativeConv2DBackpropFilter(backend, x, same, [3, 3], 1, 1),
        nativeTensorflowFilterGradient(backend, x, same, [3, 3, 3, 11], "SAME"),
      ],
      [
        nativeConv2DBackpropFilter(backend, x, valid, [1, 2], 0, 0),
        nativeTensorflowFilterGradient(backend, x, valid, [1, 2, 3, 2], "VALID"),
      ],
    ];
  });
}

/**
 * Whether `probe` runs without throwing and, in every pair it returns (a fused kernel's output,
 * then the reference), the two agree within `tolerance` (largest absolute difference): how a
 * capability probe decides. Its tensors are released either way.
 */
function agreesWithin(tolerance: number, probe: () => Array<[tf.Tensor, tf.Tensor]>): boolean {
  let close = false;
  const ran = succeeds(() => {
    close = probe().every(
      ([ours, reference]) =>
        (tf.max(tf.abs(tf.sub(ours, reference))).dataSync()[0] ?? Number.POSITIVE_INFINITY) <
        tolerance,
    );
  });
  return ran && close;
}

/** Whether `probe` runs without throwing; its tensors are released either way. */
function succeeds(probe: () => void): boolean {
  try {
    tf.tidy(probe);
    return true;
  } catch {
    return false;
  }
}

function runBatchNorm(
  backend: NativeBackend,
  x: tf.Tensor4D,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  epsilon: number,
  running: NativeRunningInput | undefined,
  activation: "relu" | "none",
): NativeBatchNormResult {
  const { binding } = backend;
  const fused: NativeAttr[] =
    activation === "relu"
      ? [
          // oneDNN's native-format kernels are registered under this label.
          { name: "_kernel", type: binding.TF_ATTR_STRING, value: "MklNameChangeOp" },
          { name: "num_side_inputs", type: binding.TF_ATTR_INT, value: 0 },
          { name: "activation_mode", type: binding.TF_ATTR_STRING, value: "Relu" },
        ]
      : [];
  const empty = running === undefined ? tf.tensor1d([], "float32") : undefined;
  let outputs: tf.Tensor[];
  try {
    outputs = backend.executeMultipleOutputs(
      activation === "relu" ? "_MklNativeFusedBatchNormEx" : "FusedBatchNormV3",
      [...batchNormAttrs(backend, epsilon, running?.momentum), ...fused],
      [
        x,
        scale,
        offset,
        running?.mean ?? (empty as tf.Tensor),
        running?.variance ?? (empty as tf.Tensor),
      ],
      6,
    );
  } finally {
    empty?.dispose();
  }
  const [y, runningMean, unbiasedVariance, mean, variance, reserve] = outputs as [
    tf.Tensor4D,
    tf.Tensor1D,
    tf.Tensor1D,
    tf.Tensor1D,
    tf.Tensor1D,
    tf.Tensor,
  ];
  // Outputs 1 and 2 are the running estimates (without `running`: the batch mean and the
  // Bessel-corrected variance); the biased variance (as torch reports it) is reserve space 2.
  // With ReLU, the third reserve output is oneDNN's workspace, and FusedBatchNormGradV3 on the
  // CPU takes an empty reserve space instead.
  let kept = reserve;
  if (activation === "relu") {
    reserve.dispose();
    kept = tf.tensor1d([], "float32");
  }
  if (running === undefined) {
    runningMean.dispose();
    unbiasedVariance.dispose();
    return { y, mean, variance, reserve: kept };
  }
  return { y, mean, variance, reserve: kept, runningMean, runningVariance: unbiasedVariance };
}

/**
 * Gradients of {@link nativeBatchNormTraining} with TensorFlow's `FusedBatchNormGradV3`:
 * `[dx, dscale, doffset]` from the saved input, scale, batch mean, biased batch variance and
 * reserve space. Not recorded on the gradient tape.
 */
export function nativeBatchNormTrainingGrad(
  backend: NativeBackend,
  dy: tf.Tensor,
  saved: {
    x: tf.Tensor4D;
    scale: tf.Tensor1D;
    mean: tf.Tensor1D;
    variance: tf.Tensor1D;
    reserve: tf.Tensor;
  },
  epsilon: number,
): [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D] {
  const outputs = backend.executeMultipleOutputs(
    "FusedBatchNormGradV3",
    batchNormAttrs(backend, epsilon),
    [dy, saved.x, saved.scale, saved.mean, saved.variance, saved.reserve],
    5,
  );
  const [dx, dscale, doffset, ...reserves] = outputs as [
    tf.Tensor4D,
    tf.Tensor1D,
    tf.Tensor1D,
    ...tf.Tensor[],
  ];
  for (const unused of reserves) unused.dispose();
  return [dx, dscale, doffset];
}

/**
 * Gradients of `relu(batchNorm(x))` in training mode, for `dy` the gradient of the ReLU's output
 * `y`, in one native op (`MedfmBatchNormReluGrad`, see {@link hasMedfmKernels}) instead of
 * `ReluGrad` and `FusedBatchNormGradV3`: the same values, with two passes over the data instead
 * of five. `mean` and `variance` are the batch's (biased), as the forward op gave them. Returns
 * `[dx, dscale, doffset]`. Not recorded on the gradient tape.
 */
export function nativeBatchNormReluGrad(
  backend: NativeBackend,
  dy: tf.Tensor,
  y: tf.Tensor,
  saved: { x: tf.Tensor4D; scale: tf.Tensor1D; mean: tf.Tensor1D; variance: tf.Tensor1D },
  epsilon: number,
): [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D] {
  return backend.executeMultipleOutputs(
    MEDFM_OPS.batchNormReluGrad.name,
    [{ name: "epsilon", type: backend.binding.TF_ATTR_FLOAT, value: epsilon }],
    [dy, y, saved.x, saved.scale, saved.mean, saved.variance],
    3,
  ) as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
}

/**
 * {@link nativeBatchNormReluGrad} plus `residual` (x's shape: the gradient that reaches `x` by
 * another path), split by channels: `[dx + residual]` as its first C − k channels and its last k,
 * with k the length of `splitLike` (its values are not read), then `dscale` and `doffset`, in one
 * native op (`MedfmBatchNormReluGradAdd`). In a DenseNet block this replaces norm1's gradient,
 * the `Add` of the concatenation's gradient and the `SplitV` of the layer before. Not recorded on
 * the gradient tape.
 */
export function nativeBatchNormReluGradAdd(
  backend: NativeBackend,
  dy: tf.Tensor,
  y: tf.Tensor,
  saved: { x: tf.Tensor4D; scale: tf.Tensor1D; mean: tf.Tensor1D; variance: tf.Tensor1D },
  epsilon: number,
  residual: tf.Tensor,
  splitLike: tf.Tensor,
): [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D] {
  return backend.executeMultipleOutputs(
    MEDFM_OPS.batchNormReluGradAdd.name,
    [{ name: "epsilon", type: backend.binding.TF_ATTR_FLOAT, value: epsilon }],
    [dy, y, saved.x, saved.scale, saved.mean, saved.variance, residual, splitLike],
    4,
  ) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
}

/**
 * `dy` where `x > 0`, else 0, with TensorFlow's `ReluGrad` in one native op (tfjs's Relu
 * gradient, `dy·step(x)`, runs six ops on tfjs-node). Not recorded on the gradient tape.
 */
export function nativeReluGrad(backend: NativeBackend, dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  const { binding } = backend;
  return backend.executeSingleOutput(
    "ReluGrad",
    [{ name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT }],
    [dy, x],
  );
}

/** Window and stride of a max pooling, as its gradient needs them. */
export interface NativeMaxPoolWindow {
  /** Window height and width. */
  filterSize: [number, number];
  /** Stride along height and width. */
  strides: [number, number];
  /** TensorFlow's padding mode. */
  padding: "VALID" | "SAME";
}

/**
 * Gradient of an NHWC float32 max pooling with oneDNN's kernels, which TensorFlow's x86 builds
 * carry but run in eager mode only when asked for by name: `_MklNativeMaxPool` recomputes the
 * pooling with its workspace (the position of each window's maximum) and `_MklNativeMaxPoolGrad`
 * scatters `dy` there. TensorFlow's `MaxPoolGrad` gives the same values but searches every
 * window again on one thread (41 vs 13 ms for DenseNet's stem pooling at 224 px, batch 4).
 * Throws when the build has no oneDNN kernels. Not recorded on the gradient tape.
 */
export function nativeMaxPoolGrad(
  backend: NativeBackend,
  dy: tf.Tensor4D,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  window: NativeMaxPoolWindow,
): tf.Tensor4D {
  const { binding } = backend;
  const attrs: NativeAttr[] = [
    { name: "T", type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: "ksize", type: binding.TF_ATTR_INT, value: [1, ...window.filterSize, 1] },
    { name: "strides", type: binding.TF_ATTR_INT, value: [1, ...window.strides, 1] },
    { name: "padding", type: binding.TF_ATTR_STRING, value: window.padding },
    { name: "data_format", type: binding.TF_ATTR_STRING, value: "NHWC" },
    { name: "workspace_enabled", type: binding.TF_ATTR_BOOL, value: true },
    // The label oneDNN's native-format kernels are registered under.
    { name: "_kernel", type: binding.TF_ATTR_STRING, value: "MklNameChangeOp" },
  ];
  const [pooled, workspace] = backend.executeMultipleOutputs("_MklNativeMaxPool", attrs, [x], 2);
  pooled.dispose();
  try {
    return backend.executeSingleOutput("_MklNativeMaxPoolGrad", attrs, [
      x,
      y,
      dy,
      workspace,
    ]) as tf.Tensor4D;
  } finally {
    workspace.dispose();
  }
}

/**
 * Whether the binding carries @medfm/models' own CPU kernels: a binding provisioned by `medfm
 * backend install` since they were added, on a CPU build (they are registered for the CPU only).
 */
export function hasMedfmKernels(backend: NativeBackend): boolean {
  return backend.binding.medfmKernels === 1 && backend.isUsingGpuDevice !== true;
}

/** Per binding: the op signatures its kernels report, or null where it cannot report them. */
const reportedSignatures = new WeakMap<object, ReadonlySet<string> | null>();

/**
 * The signatures (see `medfmOpSignature`) of the ops the binding's kernels registered, from its
 * `MedfmOpSignatures` op (run once per binding), or null for a binding without it (built before
 * it was added) or without our kernels.
 */
export function bindingOpSignatures(backend: NativeBackend): ReadonlySet<string> | null {
  const known = reportedSignatures.get(backend.binding);
  if (known !== undefined) return known;
  let signatures: ReadonlySet<string> | null = null;
  if (hasMedfmKernels(backend)) {
    try {
      const bytes = tf.tidy(() =>
        backend.executeSingleOutput(MEDFM_OPS.opSignatures.name, [], []).dataSync(),
      );
      const text = new TextDecoder().decode(Uint8Array.from(bytes));
      signatures = new Set(text.split("\n").filter((line) => line !== ""));
    } catch {
      signatures = null;
    }
  }
  reportedSignatures.set(backend.binding, signatures);
  return signatures;
}

/**
 * Whether `op` may be called on this binding: it carries our kernels (see
 * {@link hasMedfmKernels}) and reports `op` with the declaration @medfm/native-backend has
 * today, or, for a binding too old to report its ops, `op` is one whose declaration has not
 * changed since (`MEDFM_OPS_BEFORE_SIGNATURES`). Calling an op whose inputs differ from its
 * declaration would crash the process inside TensorFlow, so every probe asks this first.
 */
export function hasMedfmOp(backend: NativeBackend, op: MedfmOpDeclaration): boolean {
  if (!hasMedfmKernels(backend)) return false;
  const signatures = bindingOpSignatures(backend);
  return signatures === null
    ? MEDFM_OPS_BEFORE_SIGNATURES.has(op.name)
    : signatures.has(medfmOpSignature(op));
}

/** The scalars of {@link nativeApplyMomentum}, as float32 tensors. */
export interface NativeMomentumScalars {
  /** Learning rate. */
  lr: tf.Scalar;
  /** Momentum factor μ. */
  momentum: tf.Scalar;
  /** L2 penalty added to the gradient (0 for none). */
  weightDecay: tf.Scalar;
}

/**
 * torch's SGD step with momentum and no dampening for many variables in one native op
 * (`MedfmApplyMomentum`, see {@link hasMedfmKernels}): `g += wd·p; buf = μ·buf + g; p −= lr·buf`
 * (with Nesterov `p −= lr·(g + μ·buf)`). `params`, `grads` and `moments` are parallel lists of
 * float32 tensors; returns the new values and the new buffers in the same order. Not recorded
 * on the gradient tape.
 */
export function nativeApplyMomentum(
  backend: NativeBackend,
  scalars: NativeMomentumScalars,
  lists: { params: tf.Tensor[]; grads: tf.Tensor[]; moments: tf.Tensor[] },
  nesterov: boolean,
): { params: tf.Tensor[]; moments: tf.Tensor[] } {
  const { binding } = backend;
  const count = lists.params.length;
  if (lists.grads.length !== count || lists.moments.length !== count) {
    throw new RangeError(
      `nativeApplyMomentum: ${count} variables but ${lists.grads.length} gradients and ${lists.moments.length} buffers`,
    );
  }
  const outputs = backend.executeMultipleOutputs(
    MEDFM_OPS.applyMomentum.name,
    [
      { name: "N", type: binding.TF_ATTR_INT, value: count },
      { name: "use_nesterov", type: binding.TF_ATTR_BOOL, value: nesterov },
    ],
    [
      scalars.lr,
      scalars.momentum,
      scalars.weightDecay,
      ...lists.params,
      ...lists.grads,
      ...lists.moments,
    ],
    2 * count,
  );
  return { params: outputs.slice(0, count), moments: outputs.slice(count) };
}
