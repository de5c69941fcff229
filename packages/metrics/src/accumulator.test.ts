import { describe, expect, it } from "vitest";
import parity from "./__fixtures__/parity.json";
import { createMetricAccumulator } from "./accumulator";
import { meanAveragePrecision } from "./average-precision";
import { meanRocAuc } from "./roc-auc";

describe("createMetricAccumulator", () => {
  it("gives over batches exactly what the one-shot functions give over the whole set", () => {
    const fixture = parity.multiLabel.find((entry) => entry.name === "ties-logits")!;
    const accumulator = createMetricAccumulator();
    for (let start = 0; start < fixture.scores.length; start += 13) {
      // Mix input shapes across batches: arrays of rows, flat arrays with a shape, typed rows.
      const scores = fixture.scores.slice(start, start + 13);
      const targets = fixture.targets.slice(start, start + 13);
      if (start % 2 === 0) accumulator.add(scores, targets);
      else
        accumulator.add(
          { data: Float64Array.from(scores.flat()), shape: [scores.length, scores[0].length] },
          targets.map((row) => Int8Array.from(row)),
        );
    }
    const result = accumulator.compute();
    expect(result.rows).toBe(fixture.scores.length);
    expect(result.meanAveragePrecision).toEqual(
      meanAveragePrecision(fixture.scores, fixture.targets),
    );
    expect(result.meanRocAuc).toEqual(meanRocAuc(fixture.scores, fixture.targets));
    expect(
      accumulator.compute({ averagePrecision: "sklearn" }).meanAveragePrecision.value,
    ).toBeCloseTo(fixture.meanAveragePrecisionSklearn, 12);
    expect(accumulator.matrices().scores.shape).toEqual([fixture.scores.length, 7]);
  });

  it("keeps float32 scores as float32 and widens, without rounding, when a float64 value comes", () => {
    const accumulator = createMetricAccumulator();
    accumulator.add({ data: Float32Array.of(0.5, 0.25, 0.75, 0.5), shape: [2, 2] }, [
      [1, 0],
      [0, 1],
    ]);
    expect(accumulator.matrices().scores.data).toBeInstanceOf(Float32Array);
    // 0.1 + 2^-40 is not a float32 value: rounding it would tie it with the 0.1 of row 3.
    accumulator.add(
      [
        [0.1 + 2 ** -40, 0.3],
        [0.1, 0.3],
      ],
      [
        [1, 1],
        [0, 0],
      ],
    );
    const { scores } = accumulator.matrices();
    expect(scores.data).toBeInstanceOf(Float64Array);
    expect(Array.from(scores.data)).toEqual([0.5, 0.25, 0.75, 0.5, 0.1 + 2 ** -40, 0.3, 0.1, 0.3]);
    const all = [
      [0.5, 0.25],
      [0.75, 0.5],
      [0.1 + 2 ** -40, 0.3],
      [0.1, 0.3],
    ];
    const targets = [
      [1, 0],
      [0, 1],
      [1, 1],
      [0, 0],
    ];
    const result = accumulator.compute({ averagePrecision: "sklearn" });
    expect(result.meanAveragePrecision).toEqual(
      meanAveragePrecision(all, targets, { definition: "sklearn" }),
    );
    expect(result.meanRocAuc).toEqual(meanRocAuc(all, targets));
  });

  it("names the batch, row and column of a bad value, and rejects a change of class count", () => {
    const accumulator = createMetricAccumulator();
    accumulator.add([[0.1, 0.2]], [[0, 1]]);
    expect(() => accumulator.add([[0.1, Number.NaN]], [[0, 1]])).toThrow(
      "batch 1 scores row 0 column 1 is NaN",
    );
    expect(() => accumulator.add([[0.1, 0.2, 0.3]], [[0, 1, 0]])).toThrow(
      "has 3 classes but the accumulator has 2",
    );
    accumulator.reset();
    expect(accumulator.rows).toBe(0);
    expect(() => accumulator.compute()).toThrow("has no rows yet");
  });
});
