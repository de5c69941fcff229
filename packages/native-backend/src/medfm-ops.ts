/** One TensorFlow op of ours, in TensorFlow's op-definition syntax, as `assets/medfm_kernels.cc` registers it. */
export interface MedfmOpDeclaration {
  /** Op name, as `executeMultipleOutputs` takes it. */
  name: string;
  /** Attribute specs (`"N: int >= 1"`). */
  attrs: readonly string[];
  /** Input specs, in order (`"lr: float"`, `"params: N * float"`). */
  inputs: readonly string[];
  /** Output specs, in order. */
  outputs: readonly string[];
}

const batchNormInputs = [
  "dy: float",
  "y: float",
  "x: float",
  "scale: float",
  "mean: float",
  "variance: float",
] as const;

/**
 * The CPU kernels `assets/medfm_kernels.cc` compiles into tfjs-node's binding (present when the
 * manifest's `medfmKernels` is true and the binding exports `medfmKernels === 1`). A test checks
 * these declarations against the C++ source.
 */
export const MEDFM_OPS = {
  /** torch's SGD step with momentum for N variables: `g += wd·p; buf = μ·buf + g; p −= lr·buf`. */
  applyMomentum: {
    name: "MedfmApplyMomentum",
    attrs: ["N: int >= 1", "use_nesterov: bool = false"],
    inputs: [
      "lr: float",
      "momentum: float",
      "weight_decay: float",
      "params: N * float",
      "grads: N * float",
      "moments: N * float",
    ],
    outputs: ["new_params: N * float", "new_moments: N * float"],
  },
  /** Gradient of `relu(batchNorm(x))` in training mode, in two passes over the data. */
  batchNormReluGrad: {
    name: "MedfmBatchNormReluGrad",
    attrs: ["epsilon: float = 0.0001"],
    inputs: batchNormInputs,
    outputs: ["dx: float", "dscale: float", "doffset: float"],
  },
  /** `batchNormReluGrad` plus a residual gradient, split by channels at `split_like`'s length. */
  batchNormReluGradAdd: {
    name: "MedfmBatchNormReluGradAdd",
    attrs: ["epsilon: float = 0.0001"],
    inputs: [...batchNormInputs, "residual: float", "split_like: float"],
    outputs: ["dx_head: float", "dx_tail: float", "dscale: float", "doffset: float"],
  },
  /** Exact GELU, `x·Φ(x)`, in one pass. */
  gelu: {
    name: "MedfmGelu",
    attrs: [],
    inputs: ["x: float"],
    outputs: ["y: float"],
  },
  /** The gradient of exact GELU, `dy·(Φ(x) + x·φ(x))`, in one pass. */
  geluGrad: {
    name: "MedfmGeluGrad",
    attrs: [],
    inputs: ["dy: float", "x: float"],
    outputs: ["dx: float"],
  },
  /** The input gradient of a layer norm over the last axis (statistics recomputed from `x`). */
  layerNormGrad: {
    name: "MedfmLayerNormGrad",
    attrs: ["epsilon: float = 0.00001"],
    inputs: ["dy: float", "x: float", "scale: float"],
    outputs: ["dx: float"],
  },
  /** `relu(batchNorm(x))` with running statistics (inference), in one pass. */
  batchNormRelu: {
    name: "MedfmBatchNormRelu",
    attrs: ["epsilon: float = 0.00001"],
    inputs: ["x: float", "scale: float", "offset: float", "mean: float", "variance: float"],
    outputs: ["y: float"],
  },
  /**
   * `relu(batchNorm(concat(pieces, last axis)))` with running statistics (inference), read from
   * the N pieces in one pass: the concatenation is never made.
   */
  concatBatchNormRelu: {
    name: "MedfmConcatBatchNormRelu",
    attrs: ["N: int >= 1", "epsilon: float = 0.00001"],
    inputs: [
      "pieces: N * float",
      "scale: float",
      "offset: float",
      "mean: float",
      "variance: float",
    ],
    outputs: ["y: float"],
  },
  /**
   * `relu(batchNorm(x))` with the batch's statistics, the running estimates' update (empty
   * running inputs: none) and an empty reserve, in two passes.
   */
  batchNormReluTraining: {
    name: "MedfmBatchNormReluTraining",
    attrs: ["epsilon: float = 0.00001", "momentum: float = 0.1"],
    inputs: [
      "x: float",
      "scale: float",
      "offset: float",
      "running_mean: float",
      "running_variance: float",
    ],
    outputs: [
      "y: float",
      "mean: float",
      "variance: float",
      "reserve: float",
      "new_running_mean: float",
      "new_running_variance: float",
    ],
  },
  /** `softmax(scale·logits)` over the last axis (attention's scaled softmax), in one pass. */
  softmax: {
    name: "MedfmSoftmax",
    attrs: ["scale: float = 1"],
    inputs: ["logits: float"],
    outputs: ["y: float"],
  },
  /** The gradient of `softmax`, `scale·y·(dy − Σ dy·y)` from its output `y`, in one pass. */
  softmaxGrad: {
    name: "MedfmSoftmaxGrad",
    attrs: ["scale: float = 1"],
    inputs: ["dy: float", "y: float"],
    outputs: ["dx: float"],
  },
  /**
   * The filter gradient of a stride-1, undilated NHWC convolution with `pad_top` zero rows above
   * and `pad_left` zero columns left of `x` (the output gradient's size fixes the rest):
   * `dw[i, j, c, o] = Σ x[n, h + i − pad_top, w + j − pad_left, c] · dy[n, h, w, o]`. The filter's
   * height and width are `filter_like`'s first two dimensions (its values are not read).
   */
  conv2DBackpropFilter: {
    name: "MedfmConv2DBackpropFilter",
    attrs: ["pad_top: int = 0", "pad_left: int = 0"],
    inputs: ["x: float", "dy: float", "filter_like: float"],
    outputs: ["dw: float"],
  },
  /**
   * A convolution filter `[KH, KW, C, O]` flipped in both spatial axes and with its channel axes
   * swapped: `flipped[i, j, o, c] = filter[KH − 1 − i, KW − 1 − j, c, o]`, shape
   * `[KH, KW, O, C]`. A forward convolution of `dy` with it is a stride-1 input gradient.
   */
  flipSwapFilter: {
    name: "MedfmFlipSwapFilter",
    attrs: [],
    inputs: ["filter: float"],
    outputs: ["flipped: float"],
  },
  /**
   * Multi-head self-attention from the fused qkv projection `[B, T, 3·heads·D]` (timm's layout:
   * queries, keys, values, each `heads` heads of D channels): for the first `queries` tokens (0:
   * all T), `probabilities = softmax(scale·q·kᵀ)` over the keys, `[B, heads, Q, T]`, and
   * `context = probabilities·v` in the output projection's layout, `[B, Q, heads·D]`. `layout` is
   * an empty `[heads, Q, 0]` tensor: its shape lets shape inference give the outputs' shapes.
   */
  attention: {
    name: "MedfmAttention",
    attrs: ["heads: int >= 1", "queries: int = 0", "scale: float = 1"],
    inputs: ["qkv: float", "layout: float"],
    outputs: ["context: float", "probabilities: float"],
  },
  /**
   * The gradient of `attention` in `qkv`, from `qkv`, its `probabilities` and the gradients of
   * its two outputs: `dqkv`, `qkv`'s shape (zero in the queries of tokens past `queries`).
   */
  attentionGrad: {
    name: "MedfmAttentionGrad",
    attrs: ["heads: int >= 1", "queries: int = 0", "scale: float = 1"],
    inputs: ["qkv: float", "probabilities: float", "dcontext: float", "dprobabilities: float"],
    outputs: ["dqkv: float"],
  },
  /**
   * No inputs: the signature of every op the binding's kernels registered (see
   * {@link medfmOpSignature}), one line each, as the bytes of the text in an int32 vector.
   */
  opSignatures: {
    name: "MedfmOpSignatures",
    attrs: [],
    inputs: [],
    outputs: ["signatures: int32"],
  },
} as const satisfies Record<string, MedfmOpDeclaration>;

/**
 * An op's declaration as one line, `Name|attr;attr|input;input|output;output`: the form in which
 * the binding's `MedfmOpSignatures` reports each op it registered. An op whose line the binding
 * does not report must not be called: TensorFlow's eager API crashes the process when an op is
 * given more inputs than it declares.
 */
export function medfmOpSignature(op: MedfmOpDeclaration): string {
  return [op.name, op.attrs.join(";"), op.inputs.join(";"), op.outputs.join(";")].join("|");
}

/**
 * The ops, with today's declarations, of a binding built before `MedfmOpSignatures` existed,
 * which cannot report its signatures: every op of that time but `MedfmAttention`, which has
 * gained an input since. Such a binding may lack the later ones; calling an op it lacks throws.
 */
export const MEDFM_OPS_BEFORE_SIGNATURES: ReadonlySet<string> = new Set([
  "MedfmApplyMomentum",
  "MedfmBatchNormReluGrad",
  "MedfmBatchNormReluGradAdd",
  "MedfmGelu",
  "MedfmGeluGrad",
  "MedfmLayerNormGrad",
  "MedfmBatchNormRelu",
  "MedfmBatchNormReluTraining",
  "MedfmSoftmax",
  "MedfmSoftmaxGrad",
  "MedfmConv2DBackpropFilter",
  "MedfmFlipSwapFilter",
  "MedfmAttentionGrad",
]);
