import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { recordNativeOps } from "./__fixtures__/native-op-recorder";
import { backends, env, normal } from "./__fixtures__/test-backends";
import { MedfmBatchNormRelu, MedfmConcatBatchNormRelu } from "./kernel-names";
import { runMedfmKernel } from "./kernel-registry";
import { selectBackend } from "./select-backend";

describe("MedfmBatchNormRelu: inference batch norm + ReLU in one kernel", () => {
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  for (const backend of backends) {
    it(`equals batchNorm then relu for DenseNet's shapes on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      const native = recordNativeOps();
      // A dense layer's norm1 (odd channel count: no vector-width multiple), a transition's
      // norm at batch 2 large enough to split between threads, and a 2-D input.
      const shapes = [
        [2, 5, 5, 44],
        [2, 28, 28, 64],
        [6, 19],
      ];
      try {
        for (const [index, shape] of shapes.entries()) {
          const channels = shape[shape.length - 1] as number;
          const x = normal(shape, `bnr-x${index}`, 2, 0.3);
          const scale = normal([channels], `bnr-s${index}`, 0.5, 1) as tf.Tensor1D;
          const offset = normal([channels], `bnr-o${index}`, 0.3) as tf.Tensor1D;
          const mean = normal([channels], `bnr-m${index}`, 0.5) as tf.Tensor1D;
          const variance = tf.abs(normal([channels], `bnr-v${index}`, 0.5, 1)) as tf.Tensor1D;
          const before = x.dataSync().slice();
          const expected = tf.relu(tf.batchNorm(x, mean, variance, offset, scale, 1e-5));
          const fused = runMedfmKernel(
            MedfmBatchNormRelu,
            { x, scale, offset, mean, variance },
            { epsilon: 1e-5 },
          ) as tf.Tensor;
          expect(fused.shape).toEqual(shape);
          expect(tf.max(tf.abs(tf.sub(fused, expected))).dataSync()[0]).toBeLessThan(1e-5);
          const values = fused.dataSync();
          expect(values.some((value) => value === 0)).toBe(true);
          expect(values.some((value) => value > 0)).toBe(true);
          expect(Array.from(x.dataSync())).toEqual(Array.from(before));
          tf.dispose([x, scale, offset, mean, variance, expected, fused]);
        }
        const names = native.names();
        if (backend === "tensorflow") {
          expect(names.filter((name) => name === "MedfmBatchNormRelu")).toHaveLength(3);
        } else {
          expect(names).toEqual([]);
        }
      } finally {
        native.restore();
      }
    });
  }
});

describe("MedfmConcatBatchNormRelu: inference batch norm + ReLU of a concatenation, read from its pieces", () => {
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  /** Scale, offset, mean and variance for `channels` channels, seeded by `tag`. */
  function norm(channels: number, tag: string) {
    return {
      scale: normal([channels], `cbnr-s${tag}`, 0.5, 1) as tf.Tensor1D,
      offset: normal([channels], `cbnr-o${tag}`, 0.3) as tf.Tensor1D,
      mean: normal([channels], `cbnr-m${tag}`, 0.5) as tf.Tensor1D,
      variance: tf.abs(normal([channels], `cbnr-v${tag}`, 0.5, 1)) as tf.Tensor1D,
    };
  }

  function run(pieces: tf.Tensor[], vectors: ReturnType<typeof norm>): tf.Tensor {
    const inputs: tf.NamedTensorMap = { ...vectors };
    for (const [index, piece] of pieces.entries()) inputs[`x${index}`] = piece;
    return runMedfmKernel(MedfmConcatBatchNormRelu, inputs, {
      count: pieces.length,
      epsilon: 1e-5,
    }) as tf.Tensor;
  }

  for (const backend of backends) {
    it(`equals concat, batchNorm and relu for dense-block pieces on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      const native = recordNativeOps();
      // A dense block's features (an odd first width, then growth-rate pieces) at a size that
      // splits between threads; pieces of 1 and 3 channels; a 2-D case.
      const cases = [
        [[2, 28, 28, 45], ...Array.from({ length: 5 }, () => [2, 28, 28, 32])],
        [
          [1, 4, 3, 1],
          [1, 4, 3, 3],
        ],
        [
          [6, 7],
          [6, 2],
          [6, 9],
        ],
      ];
      try {
        for (const [index, shapes] of cases.entries()) {
          const pieces = shapes.map((shape, piece) =>
            normal(shape, `cbnr-x${index}-${piece}`, 2, 0.3),
          );
          const channels = shapes.reduce((sum, shape) => sum + (shape.at(-1) as number), 0);
          const vectors = norm(channels, `${index}`);
          const before = pieces.map((piece) => Array.from(piece.dataSync()));
          const expected = tf.relu(
            tf.batchNorm(
              tf.concat(pieces, -1),
              vectors.mean,
              vectors.variance,
              vectors.offset,
              vectors.scale,
              1e-5,
            ),
          );
          const fused = run(pieces, vectors);
          expect(fused.shape).toEqual(expected.shape);
          expect(tf.max(tf.abs(tf.sub(fused, expected))).dataSync()[0]).toBeLessThan(1e-5);
          const values = fused.dataSync();
          expect(values.some((value) => value === 0)).toBe(true);
          expect(values.some((value) => value > 0)).toBe(true);
          expect(pieces.map((piece) => Array.from(piece.dataSync()))).toEqual(before);
          tf.dispose([...pieces, ...Object.values(vectors), expected, fused]);
        }
        const names = native.names();
        if (backend === "tensorflow") {
          expect(names.filter((name) => name === "MedfmConcatBatchNormRelu")).toHaveLength(3);
        } else {
          expect(names).toEqual([]);
        }
      } finally {
        native.restore();
      }
    });

    it(`names the piece or the vector at fault on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      const a = tf.zeros([2, 3, 3, 4]);
      const b = tf.zeros([2, 3, 2, 5]);
      const nine = norm(9, "bad9");
      const eight = norm(8, "bad8");
      // Pieces whose sizes differ outside the channels, and vectors of the wrong length.
      expect(() => run([a, b], nine)).toThrow(/concat|shape|dimension/i);
      expect(() => run([a, tf.zeros([2, 3, 3, 5])], eight)).toThrow(
        "the pieces [[2, 3, 3, 4], [2, 3, 3, 5]] have 9 channels together but scale has shape [8], offset has shape [8], mean has shape [8], variance has shape [8]",
      );
      expect(() =>
        runMedfmKernel(MedfmConcatBatchNormRelu, { x0: a, ...nine }, { count: 2, epsilon: 1e-5 }),
      ).toThrow(/count is 2 but input x1 is missing/);
      tf.dispose([a, b, ...Object.values(nine), ...Object.values(eight)]);
    });
  }
});
