import { describe, expect, it } from "vitest";
import { descendingOrder } from "./rank-order";

function reference(scores: Float64Array): number[] {
  return Array.from(scores.keys()).sort(
    (left, right) => scores[right] - scores[left] || left - right,
  );
}

describe("descendingOrder", () => {
  it("orders by score descending and ties by index, for scores that share their high bits", () => {
    // 1 + k * 2^-52 differ only in the low word; negatives and exact ties mixed in.
    let state = 7;
    const next = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    };
    const scores = Float64Array.from({ length: 3000 }, () => {
      const pick = next();
      if (pick < 0.3) return 1 + Math.floor(next() * 50) * 2 ** -52;
      if (pick < 0.5) return -1 - Math.floor(next() * 50) * 2 ** -52;
      if (pick < 0.7) return Math.round(next() * 10) / 10;
      return (next() - 0.5) * 1e6;
    });
    expect(Array.from(descendingOrder(scores))).toEqual(reference(scores));
  });

  it("handles empty and single-element inputs", () => {
    expect(Array.from(descendingOrder(new Float64Array(0)))).toEqual([]);
    expect(Array.from(descendingOrder(Float64Array.of(3)))).toEqual([0]);
  });
});
