import { describe, expect, it } from "vitest";
import { descendingOrder, sortDescending } from "./rank-order";

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

  it("orders float32 scores (the 32-bit key path) the same way", () => {
    let state = 11;
    const next = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    };
    const scores = Float64Array.from({ length: 5000 }, () =>
      Math.fround(next() < 0.5 ? Math.round((next() - 0.5) * 200) / 100 : (next() - 0.5) * 1e4),
    );
    expect(Array.from(descendingOrder(scores))).toEqual(reference(scores));
  });

  it("gives tied scores equal keys and different scores different keys", () => {
    const scores = Float64Array.of(0.5, 1 + 2 ** -52, 0.5, 1, -3, 1 + 2 ** -52);
    const sorted = sortDescending(scores, Uint8Array.of(0, 1, 2, 3, 4, 5));
    expect(Array.from(sorted.payload)).toEqual([1, 5, 3, 0, 2, 4]);
    const key = (position: number) => `${sorted.high[position]}:${sorted.low?.[position]}`;
    expect(key(0)).toBe(key(1));
    expect(key(3)).toBe(key(4));
    expect(new Set([key(0), key(2), key(3), key(5)]).size).toBe(4);
  });

  it("handles empty and single-element inputs", () => {
    expect(Array.from(descendingOrder(new Float64Array(0)))).toEqual([]);
    expect(Array.from(descendingOrder(Float64Array.of(3)))).toEqual([0]);
  });
});
