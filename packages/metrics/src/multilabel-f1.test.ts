import { describe, expect, it } from "vitest";
import parity from "./__fixtures__/parity.json";
import { MetricOptionError } from "./metrics-error";
import { multiLabelF1 } from "./multilabel-f1";

function expectClose(actual: number[], expected: number[]) {
  expect(actual).toHaveLength(expected.length);
  for (const [index, value] of actual.entries()) {
    expect(Math.abs(value - expected[index])).toBeLessThan(1e-12);
  }
}

describe("multiLabelF1", () => {
  for (const fixture of parity.multiLabel) {
    it(`matches mmpretrain's MultiLabelMetric (and sklearn) at a threshold on "${fixture.name}"`, () => {
      const result = multiLabelF1(fixture.scores, fixture.targets, {
        threshold: fixture.multiLabelThreshold.threshold,
      });
      expectClose([result.CP, result.CR, result.CF1], fixture.multiLabelThreshold.macro);
      expectClose([result.OP, result.OR, result.OF1], fixture.multiLabelThreshold.micro);
    });

    it(`matches mmpretrain's MultiLabelMetric at top-k on "${fixture.name}"`, () => {
      const result = multiLabelF1(fixture.scores, fixture.targets, {
        topK: fixture.multiLabelTopK.topK,
      });
      expectClose([result.CP, result.CR, result.CF1], fixture.multiLabelTopK.macro);
      expectClose([result.OP, result.OR, result.OF1], fixture.multiLabelTopK.micro);
    });
  }

  it("reports per-class values and support, ignoring targets of -1", () => {
    const result = multiLabelF1(
      [
        [0.9, 0.1],
        [0.8, 0.7],
        [0.2, 0.6],
      ],
      [
        [1, -1],
        [0, 1],
        [1, 0],
      ],
    );
    expect(result.perClass.precision).toEqual([0.5, 0.5]);
    expect(result.perClass.recall).toEqual([0.5, 1]);
    expect(result.perClass.support).toEqual([2, 1]);
    expect(result.OP).toBe(2 / 4);
  });

  it("rejects threshold and topK together", () => {
    expect(() => multiLabelF1([[0.1]], [[1]], { threshold: 0.5, topK: 1 })).toThrow(
      MetricOptionError,
    );
  });
});
