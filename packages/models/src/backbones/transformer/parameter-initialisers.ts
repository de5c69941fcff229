import type { Random } from "@medfm/data";

/** Draws `size` values for a parameter from a seeded generator. */
export type ParameterInitialiser = (random: Random, size: number) => Float32Array;

/** Initialiser filling a constant. */
export function constant(value: number): ParameterInitialiser {
  return (_random, size) => new Float32Array(size).fill(value);
}

/** Initialiser drawing a normal truncated at two standard deviations, as timm's `trunc_normal_`. */
export function truncatedNormal(std: number): ParameterInitialiser {
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
export function fanInUniform(fanIn: number): ParameterInitialiser {
  const bound = 1 / Math.sqrt(fanIn);
  return (random, size) => {
    const values = new Float32Array(size);
    for (let index = 0; index < size; index += 1) values[index] = random.uniform(-bound, bound);
    return values;
  };
}
