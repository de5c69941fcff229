import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { createClassifier } from "../../classifier";
import { linearHead } from "../../heads/linear-head";
import { densenet, densenet121, densenet169, densenet201 } from "./densenet";

const small = { growthRate: 4, blockConfig: [2, 2, 2], numInitFeatures: 8, bnSize: 2 };

function parameterCount(variables: Map<string, tf.Variable>): number {
  let total = 0;
  for (const variable of variables.values()) total += variable.size;
  return total;
}

function randomImages(seed: number, shape: [number, number, number, number]): tf.Tensor4D {
  return tf.randomNormal(shape, 0, 1, "float32", seed) as tf.Tensor4D;
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("densenet presets", () => {
  it.each([
    ["densenet121", densenet121, 1024, 7_978_856, 727],
    ["densenet169", densenet169, 1664, 14_149_480, 1015],
    ["densenet201", densenet201, 1920, 20_013_928, 1207],
  ] as const)(
    "%s has torchvision's feature width, parameter count and key count",
    (_name, factory, width, parameters, keys) => {
      const model = createClassifier({
        backbone: factory(),
        head: linearHead({ numClasses: 1000, kind: "multi-class" }),
      });
      expect(model.backbone.numFeatures).toBe(width);
      expect(parameterCount(model.namedTrainableVariables())).toBe(parameters);
      const state = model.stateDict();
      expect(state.size).toBe(keys);
      expect([...state.keys()].slice(0, 7)).toEqual([
        "features.conv0.weight",
        "features.norm0.weight",
        "features.norm0.bias",
        "features.norm0.running_mean",
        "features.norm0.running_var",
        "features.norm0.num_batches_tracked",
        "features.denseblock1.denselayer1.norm1.weight",
      ]);
      expect(state.get("features.denseblock1.denselayer1.conv1.weight")?.shape).toEqual([
        1, 1, 64, 128,
      ]);
      expect(state.get("features.transition1.conv.weight")?.shape).toEqual([1, 1, 256, 128]);
      expect(state.get("classifier.weight")?.shape).toEqual([width, 1000]);
      tf.dispose([...state.values()]);
      model.dispose();
    },
  );
});

describe("densenet", () => {
  it("maps NHWC images to pooled features of the configured width", () => {
    const backbone = densenet(small);
    // 8 + 2*4 = 16 -> 8, 8 + 8 = 16 -> 8, 8 + 8 = 16 features.
    expect(backbone.numFeatures).toBe(16);
    const images = randomImages(1, [2, 33, 31, 3]);
    const features = backbone.forward(images, { training: false });
    const map = backbone.featureMap(images, { training: false });
    // 33x31 -> conv0 17x16 -> pool0 9x8 -> 4x4 -> 2x2.
    expect(map.shape).toEqual([2, 2, 2, 16]);
    expect(features.shape).toEqual([2, 16]);
    // The final ReLU makes every pooled feature non-negative.
    expect(features.min().dataSync()[0]).toBeGreaterThanOrEqual(0);
    tf.dispose([images, features, map]);
    backbone.dispose();
  });

  it("initialises deterministically from its seed, torchvision-style", () => {
    const backbones = [7, 7, 8].map((seed) => densenet({ ...small, seed }));
    const [first, again, other] = backbones.map((backbone) => backbone.namedVariables());
    const key = "features.denseblock2.denselayer1.conv2.weight";
    expect(first.get(key)?.dataSync()).toEqual(again.get(key)?.dataSync());
    expect(first.get(key)?.dataSync()).not.toEqual(other.get(key)?.dataSync());
    // Kaiming normal, fan-in: std sqrt(2 / (3*3*8)) for a 3x3 conv over 8 channels.
    const conv0 = first.get("features.conv0.weight") as tf.Variable;
    const values = Array.from(conv0.dataSync());
    const std = Math.sqrt(values.reduce((sum, value) => sum + value * value, 0) / values.length);
    expect(std).toBeGreaterThan(Math.sqrt(2 / 147) * 0.8);
    expect(std).toBeLessThan(Math.sqrt(2 / 147) * 1.2);
    expect(
      first
        .get("features.norm0.weight")
        ?.dataSync()
        .every((value) => value === 1),
    ).toBe(true);
    expect(
      first
        .get("features.norm5.bias")
        ?.dataSync()
        .every((value) => value === 0),
    ).toBe(true);
    expect(
      first
        .get("features.norm5.running_var")
        ?.dataSync()
        .every((value) => value === 1),
    ).toBe(true);
    for (const backbone of backbones) backbone.dispose();
  });

  it("rejects invalid configurations and inputs with the value at fault", () => {
    expect(() => densenet({ ...small, growthRate: 0 })).toThrow(/growthRate.*0/);
    expect(() => densenet({ ...small, blockConfig: [2, 1.5] })).toThrow(/blockConfig\[1\].*1\.5/);
    expect(() => densenet({ ...small, dropRate: 1 })).toThrow(/dropRate/);
    const backbone = densenet(small);
    const gray = tf.zeros([1, 16, 16, 1]) as tf.Tensor4D;
    expect(() => backbone.forward(gray, { training: false })).toThrow(/\[1, 16, 16, 1\]/);
    const single = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    // torch refuses a train-mode batch norm over one value per channel; so do we.
    expect(() => backbone.forward(single, { training: true })).toThrow(/more than 1 value/);
    tf.dispose([gray, single]);
  });

  it("draws dropout masks deterministically from the seed, only in training mode", () => {
    const x = randomImages(3, [2, 16, 16, 3]);
    const run = (seed: number) => {
      const backbone = densenet({ ...small, dropRate: 0.5, seed });
      const options = { training: true, updateStatistics: false };
      const first = backbone.forward(x, options);
      const second = backbone.forward(x, options);
      const evaluation = backbone.forward(x, { training: false });
      const again = backbone.forward(x, { training: false });
      const values = [first, second, evaluation, again].map((tensor) =>
        Array.from(tensor.dataSync()),
      );
      tf.dispose([first, second, evaluation, again]);
      backbone.dispose();
      return values;
    };
    const [first, second, evaluation, again] = run(11);
    const [replayFirst, replaySecond] = run(11);
    const [otherSeed] = run(12);
    expect(replayFirst).toEqual(first);
    expect(replaySecond).toEqual(second);
    expect(second).not.toEqual(first);
    expect(otherSeed).not.toEqual(first);
    expect(again).toEqual(evaluation);
    x.dispose();
  });
});
