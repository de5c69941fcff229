import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { selectBackend } from "./select-backend";

/**
 * A DenseNet in miniature, built from the layers the real one uses: a 7x7 stride-2 stem with
 * torchvision's explicit padding, batch norm, ReLU, 3x3 stride-2 max pooling, a dense layer
 * (BN-ReLU-1x1 conv-BN-ReLU-3x3 conv, concatenated to its input), a transition (BN-ReLU-1x1
 * conv-2x2 average pooling), global average pooling and a linear head.
 */
function tinyDenseNet(): tf.LayersModel {
  const input = tf.input({ shape: [24, 24, 3] });
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) =>
    layer.apply(x) as tf.SymbolicTensor;
  const bnRelu = (x: tf.SymbolicTensor) =>
    apply(tf.layers.reLU(), apply(tf.layers.batchNormalization({ epsilon: 1e-5 }), x));
  let x = apply(tf.layers.zeroPadding2d({ padding: 3 }), input);
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 7, strides: 2, useBias: false }), x);
  x = bnRelu(x);
  x = apply(tf.layers.zeroPadding2d({ padding: 1 }), x);
  x = apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }), x);
  let y = bnRelu(x);
  y = apply(tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false }), y);
  y = bnRelu(y);
  y = apply(tf.layers.zeroPadding2d({ padding: 1 }), y);
  y = apply(tf.layers.conv2d({ filters: 4, kernelSize: 3, useBias: false }), y);
  x = apply(tf.layers.concatenate(), [x, y]);
  x = bnRelu(x);
  x = apply(tf.layers.conv2d({ filters: 6, kernelSize: 1, useBias: false }), x);
  x = apply(tf.layers.averagePooling2d({ poolSize: 2, strides: 2 }), x);
  x = apply(tf.layers.globalAveragePooling2d({}), x);
  const output = apply(tf.layers.dense({ units: 3 }), x);
  return tf.model({ inputs: input, outputs: output });
}

function lossAndGradients(model: tf.LayersModel, images: Float32Array, labels: number[][]) {
  return tf.tidy(() => {
    const xs = tf.tensor4d(images, [2, 24, 24, 3]);
    const ys = tf.tensor2d(labels);
    const { value, grads } = tf.variableGrads(
      () =>
        tf.losses.sigmoidCrossEntropy(
          ys,
          model.apply(xs, { training: true }) as tf.Tensor,
        ) as tf.Scalar,
    );
    const names = Object.keys(grads).sort();
    return {
      loss: value.dataSync()[0] as number,
      gradients: names.map((name) => ({ name, values: (grads[name] as tf.Tensor).dataSync() })),
    };
  });
}

describe("training a DenseNet-shaped model on wasm", () => {
  it("gives the cpu backend's loss and every gradient", async () => {
    await selectBackend({ backend: "cpu", log: () => {} });
    const model = tinyDenseNet();
    const random = createRandom("wasm-training");
    const images = Float32Array.from({ length: 2 * 24 * 24 * 3 }, () => random.normal());
    const labels = [
      [1, 0, 1],
      [0, 1, 0],
    ];
    const expected = lossAndGradients(model, images, labels);
    await selectBackend({ backend: "wasm", log: () => {} });
    const actual = lossAndGradients(model, images, labels);
    expect(actual.loss).toBeCloseTo(expected.loss, 5);
    expect(actual.gradients.map((entry) => entry.name)).toEqual(
      expected.gradients.map((entry) => entry.name),
    );
    expect(actual.gradients.length).toBe(model.trainableWeights.length);
    for (const [index, entry] of expected.gradients.entries()) {
      const values = actual.gradients[index]?.values as Float32Array;
      let scale = 0;
      let error = 0;
      for (let i = 0; i < entry.values.length; i++) {
        scale = Math.max(scale, Math.abs(entry.values[i] as number));
        error = Math.max(error, Math.abs((values[i] as number) - (entry.values[i] as number)));
      }
      // Relative to the gradient's own size, with a floor for gradients that cancel to ~0 (the
      // stem batch norm's gamma sums to about 1e-6 here).
      expect(error, entry.name).toBeLessThanOrEqual(1e-4 * scale + 1e-6);
    }
    model.dispose();
  });
});
