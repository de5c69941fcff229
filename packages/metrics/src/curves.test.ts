import { describe, expect, it } from "vitest";
import parity from "./__fixtures__/parity.json";
import { precisionRecallCurve, precisionRecallCurves, rocCurve, rocCurves } from "./curves";
import { rocAuc } from "./roc-auc";

function expectClose(actual: number[], expected: number[]) {
  expect(actual).toHaveLength(expected.length);
  for (const [index, value] of actual.entries()) {
    expect(Math.abs(value - expected[index])).toBeLessThan(1e-12);
  }
}

describe("curves", () => {
  for (const fixture of parity.multiLabel) {
    const curves = fixture.curves;
    if (!curves) continue;
    const column = (rows: number[][]) => rows.map((row) => row[curves.classIndex]);

    it(`match sklearn's roc_curve and precision_recall_curve on "${fixture.name}"`, () => {
      const roc = rocCurve(column(fixture.scores), column(fixture.targets));
      expectClose(roc.falsePositiveRate, curves.roc.fpr);
      expectClose(roc.truePositiveRate, curves.roc.tpr);
      expect(roc.thresholds[0]).toBe(Number.POSITIVE_INFINITY);
      expectClose(roc.thresholds.slice(1), curves.roc.thresholds);
      const pr = precisionRecallCurve(column(fixture.scores), column(fixture.targets));
      expectClose(pr.precision, curves.pr.precision);
      expectClose(pr.recall, curves.pr.recall);
      expectClose(pr.thresholds, curves.pr.thresholds);
      expect(rocCurves(fixture.scores, fixture.targets)[curves.classIndex]).toEqual(roc);
      expect(precisionRecallCurves(fixture.scores, fixture.targets)[curves.classIndex]).toEqual(pr);
    });
  }

  it("downsample to at most N points, keeping both ends and the area close", () => {
    const fixture = parity.multiLabel.find((entry) => entry.name === "ties-probabilities-float32")!;
    const scores = fixture.scores.map((row) => row[0]);
    const targets = fixture.targets.map((row) => row[0]);
    const full = rocCurve(scores, targets);
    expect(full.falsePositiveRate.length).toBeGreaterThan(50);
    const small = rocCurve(scores, targets, { maxPoints: 20 });
    expect(small.falsePositiveRate.length).toBeLessThanOrEqual(20);
    expect(small.falsePositiveRate.length).toBeGreaterThan(10);
    expect(small.thresholds).toHaveLength(small.falsePositiveRate.length);
    expect([small.falsePositiveRate[0], small.truePositiveRate[0]]).toEqual([0, 0]);
    expect([small.falsePositiveRate.at(-1), small.truePositiveRate.at(-1)]).toEqual([1, 1]);
    let area = 0;
    for (let index = 1; index < small.falsePositiveRate.length; index++) {
      area +=
        ((small.falsePositiveRate[index] - small.falsePositiveRate[index - 1]) *
          (small.truePositiveRate[index] + small.truePositiveRate[index - 1])) /
        2;
    }
    expect(Math.abs(area - rocAuc(scores, targets))).toBeLessThan(0.02);
    const pr = precisionRecallCurve(scores, targets, { maxPoints: 7 });
    expect(pr.precision.length).toBeLessThanOrEqual(7);
    expect(pr.thresholds).toHaveLength(pr.precision.length - 1);
    expect([pr.recall.at(-1), pr.precision.at(-1)]).toEqual([0, 1]);
  });

  it("rejects maxPoints below 2", () => {
    expect(() => rocCurve([0.1, 0.2], [0, 1], { maxPoints: 1 })).toThrow("maxPoints");
  });
});
