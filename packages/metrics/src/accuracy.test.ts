import { describe, expect, it } from "vitest";
import parity from "./__fixtures__/parity.json";
import { accuracy } from "./accuracy";
import { MetricOptionError } from "./metrics-error";

describe("accuracy", () => {
  for (const fixture of parity.multiClass) {
    it(`matches the reference top-1 (and sklearn's top-2) on "${fixture.name}"`, () => {
      expect(accuracy(fixture.scores, fixture.labels)).toBe(fixture.accuracyTop1);
      if (fixture.accuracyTop2 !== undefined) {
        expect(accuracy(fixture.scores, fixture.labels, { topK: 2 })).toBeCloseTo(
          fixture.accuracyTop2,
          12,
        );
      }
    });
  }

  it("accepts one-hot targets and breaks ties towards the lower class index", () => {
    const scores = [
      [0.2, 0.2, 0.1],
      [0.1, 0.5, 0.5],
    ];
    expect(accuracy(scores, [0, 1])).toBe(1);
    expect(accuracy(scores, [1, 2])).toBe(0);
    expect(accuracy(scores, [1, 2], { topK: 2 })).toBe(1);
    expect(
      accuracy(scores, [
        [1, 0, 0],
        [0, 1, 0],
      ]),
    ).toBe(1);
  });

  it("rejects bad labels and options with the row and value", () => {
    expect(() => accuracy([[0.1, 0.9]], [2])).toThrow(
      "targets row 0 is 2; expected a class index from 0 to 1",
    );
    expect(() => accuracy([[0.1, 0.9]], [[1, 1]])).toThrow("targets row 0 column 1 is 1");
    expect(() => accuracy([[0.1, 0.9]], [1], { topK: 3 })).toThrow(MetricOptionError);
  });
});
