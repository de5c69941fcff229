import type { Random } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { createVariable } from "../initializers";

// The few transformer primitives Swin needs (LayerNorm, Linear, GELU MLP). They are to give way to
// the shared layers of backbones/transformer/ once those land; their maths is torch's exactly.

/** A parameter under its timm state-dict key, with the stage {@link Swin.freezeStages} uses. */
export interface SwinParameter {
  /** timm key, e.g. `layers.0.blocks.1.attn.qkv.weight`. */
  key: string;
  /** The tensor, in this package's layout (linear weights `[in, out]`, convolutions HWIO). */
  variable: tf.Variable;
  /** 0 for `patch_embed`, i + 1 for `layers.i`; the final norm belongs to the last stage. */
  stage: number;
}

/** Collects a model's parameters in timm's `state_dict` order. */
export class SwinParameterStore {
  /** Every parameter, in creation (= timm) order. */
  readonly parameters: SwinParameter[] = [];

  constructor(
    private readonly scope: string,
    private readonly random: Random,
  ) {}

  /** Creates a parameter from values drawn by `initialise` (called once with the store's generator). */
  add(
    key: string,
    shape: number[],
    stage: number,
    initialise: (random: Random, size: number) => Float32Array,
  ): tf.Variable {
    const size = shape.reduce((product, side) => product * side, 1);
    const variable = createVariable(
      () => tf.tensor(initialise(this.random, size), shape),
      true,
      `${this.scope}/${key}`,
    );
    this.parameters.push({ key, variable, stage });
    return variable;
  }

  /** A `[in, out]` linear weight drawn as timm does (truncated normal, std 0.02) and its bias. */
  linear(key: string, inFeatures: number, outFeatures: number, stage: number, bias = true): Linear {
    const weight = this.add(
      `${key}.weight`,
      [inFeatures, outFeatures],
      stage,
      truncatedNormal(0.02),
    );
    return {
      weight: weight as tf.Variable<tf.Rank.R2>,
      bias: bias
        ? (this.add(`${key}.bias`, [outFeatures], stage, constant(0)) as tf.Variable<tf.Rank.R1>)
        : undefined,
    };
  }

  /** A LayerNorm's weight (ones) and bias (zeros). */
  layerNorm(key: string, features: number, stage: number): LayerNorm {
    return {
      weight: this.add(`${key}.weight`, [features], stage, constant(1)) as tf.Variable<tf.Rank.R1>,
      bias: this.add(`${key}.bias`, [features], stage, constant(0)) as tf.Variable<tf.Rank.R1>,
    };
  }
}

/** Initialiser filling a constant. */
export function constant(value: number): (random: Random, size: number) => Float32Array {
  return (_random, size) => new Float32Array(size).fill(value);
}

/** Initialiser drawing a normal truncated at two standard deviations, as timm's `trunc_normal_`. */
export function truncatedNormal(std: number): (random: Random, size: number) => Float32Array {
  return (random, size) => {
    const values = new Float32Array(size);
    for (let index = 0; index < size; index += 1) {
      let value = random.normal();
      while (Math.abs(value) > 2) value = random.normal();
      values[index] = value * std;
    }
    return values;
  };
}

/** Initialiser drawing uniformly in ±1/sqrt(fanIn), torch's default for convolutions. */
export function fanInUniform(fanIn: number): (random: Random, size: number) => Float32Array {
  const bound = 1 / Math.sqrt(fanIn);
  return (random, size) => {
    const values = new Float32Array(size);
    for (let index = 0; index < size; index += 1) values[index] = random.uniform(-bound, bound);
    return values;
  };
}

/** `nn.Linear` parameters: weight `[in, out]`, optional bias `[out]`. */
export interface Linear {
  /** Weight, stored `[in, out]` (torch: `[out, in]`). */
  weight: tf.Variable<tf.Rank.R2>;
  /** Bias, absent for `bias=False` layers (patch merging's reduction). */
  bias: tf.Variable<tf.Rank.R1> | undefined;
}

/** `nn.LayerNorm` parameters. */
export interface LayerNorm {
  /** Scale γ. */
  weight: tf.Variable<tf.Rank.R1>;
  /** Shift β. */
  bias: tf.Variable<tf.Rank.R1>;
}

/** `nn.Linear` on the last axis of a tensor of any rank. */
export function applyLinear<T extends tf.Tensor>(x: T, layer: Linear): T {
  return tf.tidy(() => {
    const shape = x.shape;
    const inFeatures = shape[shape.length - 1];
    const outFeatures = layer.weight.shape[1];
    let y: tf.Tensor = tf.matMul(tf.reshape(x, [-1, inFeatures]) as tf.Tensor2D, layer.weight);
    if (layer.bias !== undefined) y = tf.add(y, layer.bias);
    return tf.reshape(y, [...shape.slice(0, -1), outFeatures]) as T;
  });
}

/** `nn.LayerNorm` over the last axis: biased variance, eps inside the square root (torch's). */
export function applyLayerNorm<T extends tf.Tensor>(x: T, norm: LayerNorm, eps = 1e-5): T {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true);
    const centred = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centred), axis, true);
    const normalised = tf.mul(centred, tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(normalised, norm.weight), norm.bias) as T;
  });
}

/** Exact GELU, `x·Φ(x) = x/2·(1 + erf(x/√2))`, as `nn.GELU()` with its default. */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) as T);
}
