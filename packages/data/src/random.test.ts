import { describe, expect, it } from "vitest";
import { createRandom, hashSeed } from "./random";

describe("createRandom", () => {
  it("reproduces the same sequence for the same seed and differs across seeds", () => {
    const first = Array.from({ length: 5 }, createRandom(42).next);
    const again = Array.from({ length: 5 }, createRandom(42).next);
    const other = Array.from({ length: 5 }, createRandom(43).next);
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
  });

  it("draws uniform integers without bias across buckets", () => {
    const random = createRandom("uniformity");
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i += 1) counts[random.int(10)] += 1;
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });

  it("draws normals with mean 0 and variance 1", () => {
    const random = createRandom(7);
    const values = Array.from({ length: 50_000 }, random.normal);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
  });

  it("shuffles into a permutation", () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const shuffled = createRandom(1).shuffle([...items]);
    expect(shuffled).not.toEqual(items);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(items);
  });

  it("rejects a non-positive bound with the value in the message", () => {
    expect(() => createRandom(1).int(0)).toThrow(/got 0/);
  });

  it("hashes keys order-sensitively", () => {
    expect(hashSeed(1, "a")).not.toBe(hashSeed("a", 1));
    expect(hashSeed(1, "a")).toBe(hashSeed(1, "a"));
  });
});
