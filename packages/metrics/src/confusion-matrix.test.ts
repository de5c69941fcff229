import { describe, expect, it } from "vitest";
import parity from "./__fixtures__/parity.json";
import { confusionMatrix, sensitivitySpecificity } from "./confusion-matrix";

describe("confusionMatrix", () => {
  for (const fixture of parity.multiClass) {
    it(`matches sklearn's confusion_matrix of argmax predictions on "${fixture.name}"`, () => {
      expect(confusionMatrix(fixture.scores, fixture.labels).counts).toEqual(
        fixture.confusionMatrix,
      );
    });
  }

  it("predicts the lower class index among tied scores", () => {
    expect(confusionMatrix([[0.5, 0.5]], [1]).counts).toEqual([
      [0, 0],
      [1, 0],
    ]);
  });
});

describe("sensitivitySpecificity", () => {
  const fixture = parity.multiClass.find((entry) => entry.name === "binary-logits")!;

  it("matches sklearn-derived sensitivity and specificity for the positive class", () => {
    const result = sensitivitySpecificity(fixture.scores, fixture.labels);
    expect(result.sensitivity).toBeCloseTo(fixture.sensitivity!, 12);
    expect(result.specificity).toBeCloseTo(fixture.specificity!, 12);
    expect(
      result.truePositives + result.falseNegatives + result.trueNegatives + result.falsePositives,
    ).toBe(fixture.labels.length);
  });

  it("swaps the two when class 0 is the positive one", () => {
    const result = sensitivitySpecificity(fixture.scores, fixture.labels, { positiveClass: 0 });
    expect(result.sensitivity).toBeCloseTo(fixture.specificity!, 12);
    expect(result.specificity).toBeCloseTo(fixture.sensitivity!, 12);
  });
});
