import type { Random } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";

let nextScopeId = 0;

/**
 * A process-unique prefix for tfjs variable names. tfjs refuses two variables with the same
 * name, so every model gets its own scope while keeping torchvision keys after the slash.
 */
export function uniqueVariableScope(prefix: string): string {
  nextScopeId += 1;
  return `${prefix}_${nextScopeId}`;
}

/**
 * Kaiming (He) normal values for a channels-last convolution filter `[kh, kw, in, out]`, as
 * torch's `nn.init.kaiming_normal_` with its defaults (fan-in mode, ReLU gain): std sqrt(2/fanIn).
 */
export function kaimingNormalFilter(
  random: Random,
  shape: [number, number, number, number],
): tf.Tensor4D {
  const [kernelHeight, kernelWidth, inChannels] = shape;
  const std = Math.sqrt(2 / (kernelHeight * kernelWidth * inChannels));
  const size = shape[0] * shape[1] * shape[2] * shape[3];
  const values = new Float32Array(size);
  for (let i = 0; i < size; i += 1) values[i] = random.normal() * std;
  return tf.tensor4d(values, shape);
}

/**
 * Uniform values in [-1/sqrt(inFeatures), 1/sqrt(inFeatures)) for a `[in, out]` linear weight:
 * the bound torch's default `nn.Linear` initialisation (kaiming uniform with a = sqrt(5)) gives.
 */
export function linearUniformWeight(
  random: Random,
  inFeatures: number,
  outFeatures: number,
): tf.Tensor2D {
  const bound = 1 / Math.sqrt(inFeatures);
  const values = new Float32Array(inFeatures * outFeatures);
  for (let i = 0; i < values.length; i += 1) values[i] = random.uniform(-bound, bound);
  return tf.tensor2d(values, [inFeatures, outFeatures]);
}

/**
 * A variable from a freshly made initial tensor, without leaking that tensor (a variable
 * shares its initial value's data, so the tensor itself must be released).
 */
export function createVariable<R extends tf.Rank>(
  initialValue: () => tf.Tensor<R>,
  trainable: boolean,
  name: string,
): tf.Variable<R> {
  return tf.tidy(() => tf.variable(initialValue(), trainable, name));
}
