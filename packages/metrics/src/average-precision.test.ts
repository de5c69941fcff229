import { describe, expect, it } from "vitest";
import parity from "./__fixtures__/parity.json";
import { averagePrecision, meanAveragePrecision } from "./average-precision";
import { MetricShapeError, MetricValueError } from "./metrics-error";
import { rankingMetrics } from "./ranking-metrics";
import { meanRocAuc } from "./roc-auc";

const column = (rows: number[][], index: number) => rows.map((row) => row[index]);

describe("meanAveragePrecision", () => {
  it("gives mmpretrain's docstring result: mAP 70.833 with per-class [100, 83.33, 100, 0]", () => {
    const scores = [
      [0.9, 0.8, 0.3, 0.2],
      [0.1, 0.2, 0.2, 0.1],
      [0.7, 0.5, 0.9, 0.3],
      [0.8, 0.1, 0.1, 0.2],
    ];
    const targets = [
      [1, 1, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
      [1, 0, 0, 0],
    ];
    const result = meanAveragePrecision(scores, targets);
    expect(result.value * 100).toBeCloseTo(70.833, 3);
    expect(result.perClass.map((value) => Math.round(value * 10000) / 100)).toEqual([
      100, 83.33, 100, 0,
    ]);
    expect(result.flags).toEqual([
      expect.objectContaining({ classIndex: 3, kind: "no-positives", excludedFromMean: false }),
    ]);
  });

  for (const fixture of parity.multiLabel) {
    it(`matches the mmpretrain transcription on "${fixture.name}" to 1e-12`, () => {
      const result = meanAveragePrecision(fixture.scores, fixture.targets);
      expect(Math.abs(result.value - fixture.meanAveragePrecision)).toBeLessThan(1e-12);
      result.perClass.forEach((value, index) => {
        expect(Math.abs(value - fixture.averagePrecision[index])).toBeLessThan(1e-12);
      });
    });

    it(`matches sklearn's average_precision_score on "${fixture.name}" to 1e-12`, () => {
      const result = meanAveragePrecision(fixture.scores, fixture.targets, {
        definition: "sklearn",
      });
      expect(Math.abs(result.value - fixture.meanAveragePrecisionSklearn)).toBeLessThan(1e-12);
      result.perClass.forEach((value, index) => {
        expect(Math.abs(value - fixture.averagePrecisionSklearn[index])).toBeLessThan(1e-12);
      });
    });
  }

  it("equals rankingMetrics, which computes mAP and AUC from one sort", () => {
    for (const fixture of parity.multiLabel) {
      for (const definition of ["mmpretrain", "sklearn"] as const) {
        expect(
          rankingMetrics(fixture.scores, fixture.targets, { averagePrecision: definition }),
        ).toEqual({
          meanAveragePrecision: meanAveragePrecision(fixture.scores, fixture.targets, {
            definition,
          }),
          meanRocAuc: meanRocAuc(fixture.scores, fixture.targets),
        });
      }
    }
  });

  it("takes the same matrix as rows of typed arrays or as a flat array with its shape", () => {
    const fixture = parity.multiLabel[1];
    const rows = fixture.scores.length;
    const classes = fixture.scores[0].length;
    const flat = {
      data: Float64Array.from(fixture.scores.flat()),
      shape: [rows, classes] as const,
    };
    const typedRows = fixture.targets.map((row) => Int8Array.from(row));
    expect(meanAveragePrecision(flat, typedRows)).toEqual(
      meanAveragePrecision(fixture.scores, fixture.targets),
    );
  });

  it("sorts flat Float32Array scores on their float32 bits with the same results", () => {
    const fixture = parity.multiLabel.find((entry) => entry.name === "ties-probabilities-float32")!;
    const shape = [fixture.scores.length, fixture.scores[0].length] as const;
    const scores = { data: Float32Array.from(fixture.scores.flat()), shape };
    const targets = { data: Uint8Array.from(fixture.targets.flat()), shape };
    for (const definition of ["mmpretrain", "sklearn"] as const) {
      const result = meanAveragePrecision(scores, targets, { definition });
      const expected =
        definition === "sklearn" ? fixture.averagePrecisionSklearn : fixture.averagePrecision;
      for (const [index, value] of result.perClass.entries()) {
        expect(Math.abs(value - expected[index])).toBeLessThan(1e-12);
      }
    }
    const auc = meanRocAuc(scores, targets);
    for (const [index, value] of auc.perClass.entries()) {
      expect(Math.abs(value - fixture.rocAuc[index]!)).toBeLessThan(1e-12);
    }
    // -0 ties with +0 on the float32 path too.
    const signedZeros = { data: Float32Array.of(-0, 0, 0.5, -0), shape: [4, 1] as const };
    expect(meanAveragePrecision(signedZeros, [[0], [1], [0], [1]]).perClass[0]).toBe(
      averagePrecision([0, 0, 0.5, 0], [0, 1, 0, 1]),
    );
  });

  it("depends only on the order of the scores (logits and sigmoid probabilities agree)", () => {
    const fixture = parity.multiLabel[1];
    const sigmoid = fixture.scores.map((row) => row.map((value) => 1 / (1 + Math.exp(-value))));
    const fromLogits = meanAveragePrecision(fixture.scores, fixture.targets);
    const fromProbabilities = meanAveragePrecision(sigmoid, fixture.targets);
    expect(fromProbabilities.perClass).toEqual(fromLogits.perClass);
  });

  it("credits earlier rows among tied scores in the mmpretrain definition, not in sklearn's", () => {
    // Two tied scores: a positive listed first gets precision 1, listed second 1/2.
    expect(averagePrecision([0.5, 0.5], [1, 0])).toBe(1);
    expect(averagePrecision([0.5, 0.5], [0, 1])).toBe(0.5);
    expect(averagePrecision([0.5, 0.5], [1, 0], { definition: "sklearn" })).toBe(0.5);
    expect(averagePrecision([0.5, 0.5], [0, 1], { definition: "sklearn" })).toBe(0.5);
  });

  it("treats -0 and +0 as a tie", () => {
    expect(averagePrecision([-0, 0, 1], [0, 1, 0], { definition: "sklearn" })).toBe(
      averagePrecision([0, 0, 1], [0, 1, 0], { definition: "sklearn" }),
    );
    expect(averagePrecision([-0, 0], [0, 1])).toBe(0.5);
  });

  it("ignores targets of -1", () => {
    const fixture = parity.multiLabel[1];
    const kept = fixture.targets
      .map((row, index) => ({ row, index }))
      .filter(({ row }) => row[3] !== -1);
    expect(
      averagePrecision(
        kept.map(({ index }) => fixture.scores[index][3]),
        kept.map(({ row }) => row[3]),
      ),
    ).toBe(averagePrecision(column(fixture.scores, 3), column(fixture.targets, 3)));
  });

  it("throws errors naming the row and column at fault", () => {
    expect(() => meanAveragePrecision([[0.1, Number.NaN]], [[0, 1]])).toThrow(
      "scores row 0 column 1 is NaN; expected a finite number",
    );
    expect(() => meanAveragePrecision([[0.1, Number.POSITIVE_INFINITY]], [[0, 1]])).toThrow(
      MetricValueError,
    );
    expect(() =>
      meanAveragePrecision(
        [
          [0.1, 0.2],
          [0.3, 0.4],
        ],
        [
          [0, 1],
          [2, 0],
        ],
      ),
    ).toThrow("targets row 1 column 0 is 2; expected 0, 1 or -1 (ignored)");
    expect(() => meanAveragePrecision([[0.1, 0.2], [0.3]], [[0, 1]])).toThrow(
      "scores row 1: has 1 columns but row 0 has 2",
    );
    expect(() => meanAveragePrecision([[0.1, 0.2]], [[0, 1, 0]])).toThrow(MetricShapeError);
    expect(() => averagePrecision([0.1, 0.2], [1])).toThrow(MetricShapeError);
  });
});
