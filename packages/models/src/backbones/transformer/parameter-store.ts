import type { Random } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { createVariable } from "../initializers";
import type { LayerNorm } from "./layer-norm";
import type { Linear } from "./linear";
import { constant, type ParameterInitialiser, truncatedNormal } from "./parameter-initialisers";

/** A parameter under its published (timm) state-dict key, with the stage freezing uses. */
export interface TransformerParameter {
  /** timm key, e.g. `blocks.1.attn.qkv.weight`. */
  key: string;
  /** The tensor, in this package's layout (linear weights `[in, out]`, convolutions HWIO). */
  variable: tf.Variable;
  /** The stage the parameter freezes with (0 for the stem, i + 1 for the i-th stage). */
  stage: number;
}

/** Collects a transformer's parameters in the reference's `state_dict` order. */
export class ParameterStore {
  /** Every parameter, in creation (= reference) order. */
  readonly parameters: TransformerParameter[] = [];

  constructor(
    private readonly scope: string,
    private readonly random: Random,
  ) {}

  /** Creates a parameter from values drawn by `initialise` (called once with the store's generator). */
  add(key: string, shape: number[], stage: number, initialise: ParameterInitialiser): tf.Variable {
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

  /** Every parameter by its reference key, in `state_dict` order (a backbone's `namedVariables`). */
  named(): Map<string, tf.Variable> {
    return new Map(this.parameters.map(({ key, variable }) => [key, variable]));
  }

  /** The trainable parameters by key, in `state_dict` order (`namedTrainableVariables`). */
  namedTrainable(): Map<string, tf.Variable> {
    return new Map(
      this.parameters
        .filter(({ variable }) => variable.trainable)
        .map(({ key, variable }) => [key, variable]),
    );
  }

  /** A LayerNorm's weight (ones) and bias (zeros). */
  layerNorm(key: string, features: number, stage: number): LayerNorm {
    return {
      weight: this.add(`${key}.weight`, [features], stage, constant(1)) as tf.Variable<tf.Rank.R1>,
      bias: this.add(`${key}.bias`, [features], stage, constant(0)) as tf.Variable<tf.Rank.R1>,
    };
  }
}
