import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import fixture from "./__fixtures__/torch-train.json";
import { asymmetricLoss, binaryCrossEntropyWithLogits, softmaxCrossEntropy } from "./losses";

const reference = fixture.loss;

function evaluate(loss: ReturnType<typeof softmaxCrossEntropy>, targets: number[][]): number {
  return tf.tidy(() => loss(tf.tensor2d(reference.logits), tf.tensor2d(targets)).dataSync()[0]);
}

describe("losses match torch.nn.functional", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("BCE with logits, stable on large logits", () => {
    expect(evaluate(binaryCrossEntropyWithLogits(), reference.targets)).toBeCloseTo(
      reference.bce,
      5,
    );
  });

  it("BCE with logits and per-class pos_weight", () => {
    const loss = binaryCrossEntropyWithLogits({ posWeight: reference.posWeight });
    expect(evaluate(loss, reference.targets)).toBeCloseTo(reference.bcePosWeight, 5);
  });

  it("BCE ignores targets of -1", () => {
    const masked = reference.targets.map((row) => [...row]);
    masked[0][0] = -1;
    const full = evaluate(binaryCrossEntropyWithLogits(), reference.targets);
    const withMask = evaluate(binaryCrossEntropyWithLogits(), masked);
    expect(withMask).not.toBeCloseTo(full, 6);
    const dropped = tf.tidy(() => {
      const logits = tf.tensor2d(reference.logits).reshape([-1]).slice(1);
      const targets = tf.tensor2d(reference.targets).reshape([-1]).slice(1);
      return tf.losses.sigmoidCrossEntropy(targets, logits).dataSync()[0];
    });
    expect(withMask).toBeCloseTo(dropped, 5);
  });

  it("softmax cross-entropy, with and without label smoothing", () => {
    expect(evaluate(softmaxCrossEntropy(), reference.onehot)).toBeCloseTo(
      reference.crossEntropy,
      5,
    );
    expect(evaluate(softmaxCrossEntropy({ labelSmoothing: 0.1 }), reference.onehot)).toBeCloseTo(
      reference.crossEntropySmoothed,
      5,
    );
  });

  it("asymmetric loss with no focusing and no clip equals summed BCE", () => {
    const loss = asymmetricLoss({ gammaNegative: 0, gammaPositive: 0, clip: 0 });
    const classes = reference.logits[0].length;
    // Summed over classes, averaged over rows = mean BCE × classes (up to the 1e-8 floor).
    expect(evaluate(loss, reference.targets)).toBeCloseTo(reference.bce * classes, 3);
  });

  it("asymmetric loss down-weights easy negatives", () => {
    const plain = evaluate(asymmetricLoss({ gammaNegative: 0, clip: 0 }), reference.targets);
    const focused = evaluate(asymmetricLoss(), reference.targets);
    expect(focused).toBeLessThan(plain);
  });
});
