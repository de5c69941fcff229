import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { densenet } from "./backbones/densenet/densenet";
import { createClassifier } from "./classifier";
import { cosinePrototypeHead } from "./heads/cosine-prototype-head";
import { linearHead } from "./heads/linear-head";
import { mlpHead } from "./heads/mlp-head";
import { StateDictError } from "./weights/state-dict-error";

const small = { growthRate: 4, blockConfig: [2, 2, 2], numInitFeatures: 8, bnSize: 2 };

function smallClassifier(seed = 0, memoryEfficient = false) {
  return createClassifier({
    backbone: densenet({ ...small, seed, memoryEfficient }),
    head: linearHead({ numClasses: 3, kind: "multi-label", seed }),
  });
}

function images(seed: number, batch = 2, size = 24): tf.Tensor4D {
  return tf.randomNormal([batch, size, size, 3], 0, 1, "float32", seed) as tf.Tensor4D;
}

function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("createClassifier", () => {
  it("gives logits per class; eval mode is repeatable and training mode differs", () => {
    const model = smallClassifier();
    const x = images(1);
    const first = model.predict(x);
    const second = model.predict(x);
    expect(first.shape).toEqual([2, 3]);
    expect(maxAbsDifference(first, second)).toBe(0);
    const trained = model.forward(x, { training: true, updateStatistics: false });
    expect(maxAbsDifference(first, trained)).toBeGreaterThan(1e-3);
    const scores = model.predictScores(x).dataSync();
    expect(scores.every((score) => score > 0 && score < 1)).toBe(true);
    tf.dispose([x, first, second, trained]);
    model.dispose();
  });

  it("updates batch-norm running statistics in training mode inside tf.variableGrads", () => {
    const model = smallClassifier();
    const x = images(2);
    const runningMean = () =>
      (
        model.backbone.namedVariables().get("features.norm0.running_mean") as tf.Variable
      ).dataSync();
    const before = runningMean().slice();
    const { value, grads } = tf.variableGrads(
      () => tf.sum(model.forward(x, { training: true })) as tf.Scalar,
      model.trainableVariables(),
    );
    const after = runningMean();
    // torch: running = 0.9 * running + 0.1 * batch mean; the stem conv's batch mean is not 0.
    expect(after.some((valueAfter, index) => Math.abs(valueAfter - before[index]) > 1e-4)).toBe(
      true,
    );
    expect(Object.keys(grads)).toHaveLength(model.trainableVariables().length);
    for (const gradient of Object.values(grads)) {
      expect(Number.isFinite(tf.sum(tf.abs(gradient)).dataSync()[0])).toBe(true);
    }
    const counters = model.stateDict().get("features.norm0.num_batches_tracked");
    expect(counters?.dataSync()[0]).toBe(1);
    tf.dispose([x, value, ...Object.values(grads)]);
    model.dispose();
  });

  it.each([false, true])(
    "leaks no tensor across predict, forward and gradient steps (memory-efficient: %s)",
    (memoryEfficient) => {
      const model = smallClassifier(0, memoryEfficient);
      const x = images(3);
      // One warm-up step so lazily created kernel state is not counted.
      tf.dispose(
        tf.variableGrads(() => tf.sum(model.forward(x, { training: true })) as tf.Scalar).grads,
      );
      const start = tf.memory().numTensors;
      for (let step = 0; step < 3; step += 1) {
        const { value, grads } = tf.variableGrads(
          () => tf.mean(model.forward(x, { training: true })) as tf.Scalar,
          model.trainableVariables(),
        );
        tf.dispose([value, ...Object.values(grads)]);
        tf.dispose([model.predict(x), model.features(x), model.predictScores(x)]);
      }
      expect(tf.memory().numTensors).toBe(start);
      tf.dispose(x);
      model.dispose();
    },
  );

  it("freezes the backbone and unfreezes its last blocks", () => {
    const model = smallClassifier();
    model.freezeBackbone();
    expect([...model.namedTrainableVariables().keys()]).toEqual([
      "classifier.weight",
      "classifier.bias",
    ]);
    // A frozen backbone uses its running statistics: training mode leaves them alone.
    const x = images(4);
    const before = model.stateDict();
    tf.dispose(model.forward(x, { training: true }));
    const after = model.stateDict();
    expect(
      maxAbsDifference(
        before.get("features.norm5.running_var")!,
        after.get("features.norm5.running_var")!,
      ),
    ).toBe(0);

    model.unfreezeLastBlocks(1);
    const keys = [...model.namedTrainableVariables().keys()];
    expect(keys).toContain("features.denseblock3.denselayer2.conv2.weight");
    expect(keys).toContain("features.transition2.conv.weight");
    expect(keys).toContain("features.norm5.weight");
    expect(keys.some((key) => key.includes("denseblock2"))).toBe(false);
    expect(keys).not.toContain("features.conv0.weight");
    expect(model.trainableVariables().every((variable) => variable.trainable)).toBe(true);
    const frozen = model.backbone
      .namedVariables()
      .get("features.denseblock1.denselayer1.conv1.weight");
    expect(frozen?.trainable).toBe(false);

    model.unfreezeBackbone();
    expect(model.trainableVariables()).toHaveLength(
      model.backbone.namedTrainableVariables().size + 2,
    );
    expect(() => model.unfreezeLastBlocks(4)).toThrow(/3 dense blocks.*4/);
    tf.dispose([x, ...before.values(), ...after.values()]);
    model.dispose();
  });

  it("swaps heads on one backbone", () => {
    const model = smallClassifier();
    const x = images(5);
    const features = model.features(x);
    const old = model.replaceHead(
      mlpHead({ numClasses: 4, kind: "multi-class", hiddenFeatures: 6 }),
    );
    old.dispose();
    const logits = model.predict(x);
    expect(logits.shape).toEqual([2, 4]);
    const softmax = model.predictScores(x);
    expect(tf.sum(softmax, 1).dataSync()[0]).toBeCloseTo(1, 5);
    expect([...model.stateDict().keys()].filter((key) => key.startsWith("classifier."))).toEqual([
      "classifier.0.weight",
      "classifier.0.bias",
      "classifier.3.weight",
      "classifier.3.bias",
    ]);
    // The backbone is untouched by the swap.
    const again = model.features(x);
    expect(maxAbsDifference(features, again)).toBe(0);
    tf.dispose([x, features, logits, softmax, again]);
    model.dispose();
  });

  it("round-trips its state dict and reports bad keys and shapes strictly", () => {
    const source = smallClassifier(1);
    const target = smallClassifier(2);
    const x = images(6);
    const state = source.stateDict();
    const report = target.loadStateDict(state);
    expect(report.loaded).toHaveLength(state.size);
    expect(maxAbsDifference(source.predict(x), target.predict(x))).toBe(0);

    const broken = new Map(state);
    broken.delete("features.norm5.running_mean");
    broken.set("features.extra.weight", tf.zeros([1]));
    broken.set("classifier.weight", tf.zeros([3, 16]));
    let error: unknown;
    try {
      target.loadStateDict(broken, { source: "broken.safetensors" });
    } catch (caught) {
      error = caught;
    }
    expect(StateDictError.isInstance(error)).toBe(true);
    const stateError = error as StateDictError;
    expect(stateError.missing).toEqual(["features.norm5.running_mean"]);
    expect(stateError.unexpected).toEqual(["features.extra.weight"]);
    expect(stateError.mismatched).toEqual(["classifier.weight: expected [16, 3], got [3, 16]"]);
    expect(stateError.message).toMatch(/^broken\.safetensors: /);

    // Backbone only: drop the head's keys and load non-strictly.
    const backboneOnly = new Map([...state].filter(([key]) => !key.startsWith("classifier.")));
    const partial = smallClassifier(3);
    const partialReport = partial.loadStateDict(backboneOnly, { strict: false });
    expect(partialReport.missing).toEqual(["classifier.weight", "classifier.bias"]);
    expect(maxAbsDifference(source.features(x), partial.features(x))).toBe(0);
    tf.dispose([x, ...state.values(), ...broken.values()]);
    for (const model of [source, target, partial]) model.dispose();
  });

  it("memory-efficient mode gives the same logits, gradients and running statistics", () => {
    const standard = smallClassifier(4, false);
    const efficient = smallClassifier(4, true);
    const x = images(7, 3, 20);
    const step = (model: ReturnType<typeof smallClassifier>) =>
      tf.variableGrads(
        () =>
          tf.sum(
            tf.mul(model.forward(x, { training: true }), tf.tensor1d([1, -2, 0.5])),
          ) as tf.Scalar,
        model.trainableVariables(),
      );
    const a = step(standard);
    const b = step(efficient);
    expect(Math.abs(a.value.dataSync()[0] - b.value.dataSync()[0])).toBeLessThan(1e-5);
    const namesA = standard.namedTrainableVariables();
    const namesB = efficient.namedTrainableVariables();
    for (const [key, variable] of namesA) {
      const other = namesB.get(key) as tf.Variable;
      expect(maxAbsDifference(a.grads[variable.name], b.grads[other.name]), key).toBeLessThan(1e-4);
    }
    const stateA = standard.stateDict();
    const stateB = efficient.stateDict();
    for (const [key, tensor] of stateA) {
      expect(maxAbsDifference(tensor, stateB.get(key) as tf.Tensor), key).toBeLessThan(1e-6);
    }
    tf.dispose([x, a.value, b.value, ...Object.values(a.grads), ...Object.values(b.grads)]);
    tf.dispose([...stateA.values(), ...stateB.values()]);
    standard.dispose();
    efficient.dispose();
  });

  it("fills cosine prototypes from support features (Meta-Baseline)", () => {
    const model = smallClassifier();
    const head = cosinePrototypeHead({ numClasses: 2, kind: "multi-class", classes: ["a", "b"] });
    model.replaceHead(head).dispose();
    const support = tf.tensor2d([
      [1, 0, ...new Array(14).fill(0)],
      [3, 0, ...new Array(14).fill(0)],
      [0, 2, ...new Array(14).fill(0)],
    ]);
    head.setPrototypes(
      support,
      tf.tensor2d([
        [1, 0],
        [1, 0],
        [0, 1],
      ]),
    );
    const prototypes = model.stateDict().get("classifier.prototypes") as tf.Tensor;
    expect(Array.from(prototypes.dataSync().slice(0, 2))).toEqual([1, 0]);
    expect(Array.from(prototypes.dataSync().slice(16, 18))).toEqual([0, 1]);
    const logits = head.forward(tf.tensor2d([[1, 1, ...new Array(14).fill(0)]]), {
      training: false,
    });
    // cos 45° times the default scale 10.
    expect(logits.dataSync()[0]).toBeCloseTo(10 / Math.SQRT2, 4);
    expect(() =>
      head.setPrototypes(
        support,
        tf.tensor2d([
          [1, 0],
          [1, 0],
          [1, 0],
        ]),
      ),
    ).toThrow(/for b/);
    model.dispose();
  });
});
