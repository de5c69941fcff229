import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { backends, env } from "./__fixtures__/test-backends";
import { reluGradConfig } from "./relu-grad";
import { selectBackend } from "./select-backend";

/** The gradient of Σ relu(x)·g for x, with exact zeros among the inputs. */
function reluGradient(): Float32Array {
  return tf.tidy(() => {
    const random = createRandom("relu");
    const values = Float32Array.from({ length: 2 * 5 * 5 * 3 }, (_, i) =>
      i % 7 === 0 ? 0 : random.normal(),
    );
    const x = tf.tensor4d(values, [2, 5, 5, 3]);
    const g = tf.tensor4d(
      Float32Array.from(values, () => random.normal()),
      [2, 5, 5, 3],
    );
    const [dx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), g)))([x]);
    return (dx as tf.Tensor).dataSync() as Float32Array;
  });
}

describe("reluGradConfig", () => {
  it("is the Relu gradient after selectBackend", async () => {
    await selectBackend({ backend: "cpu", env, log: () => {} });
    expect(tf.getGradient(tf.Relu)).toBe(reluGradConfig);
  });

  for (const backend of backends) {
    it(`passes dy where x > 0 and 0 elsewhere on ${backend}`, async () => {
      const random = createRandom("relu");
      const values = Float32Array.from({ length: 2 * 5 * 5 * 3 }, (_, i) =>
        i % 7 === 0 ? 0 : random.normal(),
      );
      const g = Float32Array.from(values, () => random.normal());
      const expected = Array.from(values, (value, i) => (value > 0 ? (g[i] as number) : 0));
      await selectBackend({ backend, env, log: () => {} });
      const before = tf.memory().numTensors;
      const actual = reluGradient();
      expect(tf.memory().numTensors).toBe(before);
      // −0 (dy·0 for negative dy) and +0 are the same gradient.
      expect(Array.from(actual, (value) => value + 0)).toEqual(expected);
    });
  }
});
