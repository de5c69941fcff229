import * as tf from "@tensorflow/tfjs";
import { MedfmSgdMomentumUpdate, type SgdMomentumUpdateAttrs } from "../backend/kernel-names";
import { runMedfmKernel } from "../backend/kernel-registry";

/** Optimizer state as plain tensors, keyed by variable name then slot, for checkpoints. */
export interface OptimizerState {
  /** Number of `step()` calls applied so far. */
  step: number;
  /** Per variable name, its slot tensors (momentum buffer, Adam moments). */
  slots: Record<string, Record<string, tf.Tensor>>;
}

/** Updates variables from their gradients; the learning rate is passed on every step. */
export interface Optimizer {
  /** `"sgd"` or `"adamw"`. */
  readonly name: string;
  /**
   * Applies one update. `gradients` maps a variable's `name` to its gradient; variables without
   * a gradient are left unchanged.
   */
  step(variables: readonly tf.Variable[], gradients: Record<string, tf.Tensor>, lr: number): void;
  /** A copy of the optimizer's state (tensors owned by the caller). */
  getState(): OptimizerState;
  /** Restores a state from `getState()`; tensors are copied. */
  setState(state: OptimizerState): void;
  /** Frees the optimizer's slot variables. */
  dispose(): void;
}

/** Options of {@link sgd}, with PyTorch's `torch.optim.SGD` semantics. */
export interface SgdOptions {
  /** Momentum factor (0.9 in the MedFM DenseNet recipe). Default 0. */
  momentum?: number;
  /** L2 penalty added to the gradient, as torch does (1e-4 in the recipe). Default 0. */
  weightDecay?: number;
  /** Dampening for momentum. Default 0. */
  dampening?: number;
  /** Nesterov momentum. Default false. */
  nesterov?: boolean;
}

/** Options of {@link adamw}, with PyTorch's `torch.optim.AdamW` semantics. */
export interface AdamWOptions {
  /** Coefficients for the running averages of the gradient and its square. Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Term added to the denominator. Default 1e-8. */
  epsilon?: number;
  /** Decoupled weight decay. Default 0.01. */
  weightDecay?: number;
}

class SlotStore {
  private readonly slots = new Map<string, Map<string, tf.Variable>>();

  get(variableName: string, slot: string): tf.Variable | undefined {
    return this.slots.get(variableName)?.get(slot);
  }

  set(variableName: string, slot: string, value: tf.Tensor): void {
    let forVariable = this.slots.get(variableName);
    if (!forVariable) {
      forVariable = new Map();
      this.slots.set(variableName, forVariable);
    }
    const existing = forVariable.get(slot);
    if (existing) existing.assign(value);
    else forVariable.set(slot, tf.variable(value, false));
  }

  snapshot(): Record<string, Record<string, tf.Tensor>> {
    const out: Record<string, Record<string, tf.Tensor>> = {};
    for (const [variableName, slots] of this.slots) {
      out[variableName] = {};
      for (const [slot, value] of slots) out[variableName][slot] = value.clone();
    }
    return out;
  }

  restore(state: Record<string, Record<string, tf.Tensor>>): void {
    this.dispose();
    for (const [variableName, slots] of Object.entries(state)) {
      for (const [slot, value] of Object.entries(slots)) this.set(variableName, slot, value);
    }
  }

  dispose(): void {
    for (const slots of this.slots.values()) for (const value of slots.values()) value.dispose();
    this.slots.clear();
  }
}

function checkRate(name: string, value: number, low: number, high: number): void {
  if (!Number.isFinite(value) || value < low || value > high) {
    throw new RangeError(`${name} must be in [${low}, ${high}], got ${value}`);
  }
}

/**
 * Stochastic gradient descent with momentum and weight decay, matching `torch.optim.SGD`:
 * `g += wd·p; buf = μ·buf + (1−dampening)·g` (buf = g on the first step); `p -= lr·buf`
 * (or `lr·(g + μ·buf)` with Nesterov).
 *
 * Each step is one `MedfmSgdMomentumUpdate` kernel for every variable (see `kernel-registry.ts`):
 * tfjs's ops per variable on cpu and wasm; on the native `tensorflow` backend with momentum and
 * no dampening (the MedFM recipe), one native op (`MedfmApplyMomentum`, compiled into the
 * binding by `medfm backend install`) over every variable and buffer, the same values in one
 * pass over memory.
 */
export function sgd(options: SgdOptions = {}): Optimizer {
  const momentum = options.momentum ?? 0;
  const weightDecay = options.weightDecay ?? 0;
  const dampening = options.dampening ?? 0;
  const nesterov = options.nesterov ?? false;
  checkRate("momentum", momentum, 0, 1);
  checkRate("weightDecay", weightDecay, 0, Number.POSITIVE_INFINITY);
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new RangeError("Nesterov momentum requires momentum > 0 and dampening 0");
  }
  const slots = new SlotStore();
  let stepCount = 0;
  return {
    name: "sgd",
    step(variables, gradients, lr) {
      const updated = variables.filter((variable) => gradients[variable.name] !== undefined);
      if (updated.length > 0) {
        tf.tidy(() => {
          const inputs: tf.NamedTensorMap = {};
          const fresh: boolean[] = [];
          updated.forEach((variable, index) => {
            inputs[`param${index}`] = variable;
            inputs[`grad${index}`] = gradients[variable.name] as tf.Tensor;
            if (momentum) {
              const buffer = slots.get(variable.name, "momentum");
              fresh.push(buffer === undefined);
              // A new buffer is zeros (torch starts it at the gradient; the kernel knows).
              inputs[`moment${index}`] = buffer ?? tf.zerosLike(variable);
            }
          });
          const attrs: SgdMomentumUpdateAttrs = {
            count: updated.length,
            lr,
            momentum,
            dampening,
            weightDecay,
            nesterov,
            fresh,
          };
          const outputs = runMedfmKernel(
            MedfmSgdMomentumUpdate,
            inputs,
            attrs as unknown as tf.NamedAttrMap,
          ) as tf.Tensor[];
          // The variables and buffers take the outputs' memory (no copy); the native kernel
          // updates an input in place only when nothing else holds it, so earlier reads never
          // change.
          updated.forEach((variable, index) => {
            variable.assign(outputs[index] as tf.Tensor);
            if (momentum) {
              slots.set(variable.name, "momentum", outputs[updated.length + index] as tf.Tensor);
            }
          });
        });
      }
      stepCount += 1;
    },
    getState: () => ({ step: stepCount, slots: slots.snapshot() }),
    setState(state) {
      stepCount = state.step;
      slots.restore(state.slots);
    },
    dispose: () => slots.dispose(),
  };
}

/**
 * Adam with decoupled weight decay, matching `torch.optim.AdamW`:
 * `p *= 1 − lr·wd; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
 * p -= lr·m̂ / (√v̂ + ε)` with bias-corrected m̂, v̂.
 */
export function adamw(options: AdamWOptions = {}): Optimizer {
  const [beta1, beta2] = options.betas ?? [0.9, 0.999];
  const epsilon = options.epsilon ?? 1e-8;
  const weightDecay = options.weightDecay ?? 0.01;
  checkRate("betas[0]", beta1, 0, 1);
  checkRate("betas[1]", beta2, 0, 1);
  const slots = new SlotStore();
  let stepCount = 0;
  return {
    name: "adamw",
    step(variables, gradients, lr) {
      stepCount += 1;
      const correction1 = 1 - beta1 ** stepCount;
      const correction2 = 1 - beta2 ** stepCount;
      tf.tidy(() => {
        // Scalars once per step, not per variable (see sgd).
        const decay = weightDecay ? tf.scalar(1 - lr * weightDecay) : undefined;
        const [b1, keep1, b2, keep2] = [beta1, 1 - beta1, beta2, 1 - beta2].map((value) =>
          tf.scalar(value),
        ) as [tf.Scalar, tf.Scalar, tf.Scalar, tf.Scalar];
        const [c1, c2, eps, rate] = [correction1, correction2, epsilon, lr].map((value) =>
          tf.scalar(value),
        ) as [tf.Scalar, tf.Scalar, tf.Scalar, tf.Scalar];
        for (const variable of variables) {
          const gradient = gradients[variable.name];
          if (!gradient) continue;
          const decayed = decay ? variable.mul(decay) : variable;
          const previousM = slots.get(variable.name, "m") ?? tf.zerosLike(variable);
          const previousV = slots.get(variable.name, "v") ?? tf.zerosLike(variable);
          const m = previousM.mul(b1).add(gradient.mul(keep1));
          const v = previousV.mul(b2).add(gradient.square().mul(keep2));
          slots.set(variable.name, "m", m);
          slots.set(variable.name, "v", v);
          const denominator = v.div(c2).sqrt().add(eps);
          variable.assign(decayed.sub(m.div(c1).div(denominator).mul(rate)));
        }
      });
    },
    getState: () => ({ step: stepCount, slots: slots.snapshot() }),
    setState(state) {
      stepCount = state.step;
      slots.restore(state.slots);
    },
    dispose: () => slots.dispose(),
  };
}

/**
 * Scales gradients so their global L2 norm is at most `maxNorm` (like
 * `torch.nn.utils.clip_grad_norm_`). Returns the new gradients and the norm before clipping.
 */
export function clipGradientsByGlobalNorm(
  gradients: Record<string, tf.Tensor>,
  maxNorm: number,
): { gradients: Record<string, tf.Tensor>; norm: number } {
  const names = Object.keys(gradients);
  const norm = tf.tidy(() => tf.addN(names.map((name) => gradients[name].square().sum())).sqrt());
  const normValue = norm.dataSync()[0];
  norm.dispose();
  const scale = maxNorm / (normValue + 1e-6);
  if (scale >= 1) return { gradients, norm: normValue };
  const clipped: Record<string, tf.Tensor> = {};
  for (const name of names) clipped[name] = tf.tidy(() => gradients[name].mul(scale));
  return { gradients: clipped, norm: normValue };
}
