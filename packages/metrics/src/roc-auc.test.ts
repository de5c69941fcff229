import { describe, expect, it } from "vitest";
import parity from "./__fixtures__/parity.json";
import { meanRocAuc, rocAuc } from "./roc-auc";

describe("meanRocAuc", () => {
  for (const fixture of parity.multiLabel) {
    it(`matches sklearn's roc_auc_score per class on "${fixture.name}" to 1e-12`, () => {
      const result = meanRocAuc(fixture.scores, fixture.targets);
      result.perClass.forEach((value, index) => {
        const expected = fixture.rocAuc[index];
        if (expected === null) expect(value).toBeNaN();
        else expect(Math.abs(value - expected)).toBeLessThan(1e-12);
      });
      expect(Math.abs(result.value - (fixture.meanRocAuc ?? Number.NaN))).toBeLessThan(1e-12);
    });
  }

  it("flags single-valued classes and leaves them out of the mean", () => {
    const fixture = parity.multiLabel.find((entry) => entry.name === "degenerate-classes")!;
    const result = meanRocAuc(fixture.scores, fixture.targets);
    expect(result.flags.map((flag) => [flag.classIndex, flag.kind, flag.excludedFromMean])).toEqual(
      [
        [0, "no-positives", true],
        [1, "no-positives", true],
        [3, "no-samples", true],
      ],
    );
    expect(result.value).toBe(result.perClass[2]);
    expect(result.flags[0].note).toContain("left out of the mean");
  });

  it("is NaN when every class is single-valued", () => {
    expect(meanRocAuc([[0.1], [0.2]], [[1], [1]]).value).toBeNaN();
  });
});

describe("rocAuc", () => {
  it("counts a tie between a positive and a negative as half", () => {
    expect(rocAuc([0.5, 0.5], [1, 0])).toBe(0.5);
    expect(rocAuc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])).toBe(0.875);
  });

  it("is NaN without negatives or positives", () => {
    expect(rocAuc([0.1, 0.2], [1, 1])).toBeNaN();
    expect(rocAuc([0.1, 0.2], [0, -1])).toBeNaN();
  });
});
