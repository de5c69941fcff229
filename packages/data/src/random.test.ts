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

  it("continues the exact sequence from a saved state, through JSON, in another generator", () => {
    const random = createRandom(7);
    for (let i = 0; i < 100; i += 1) random.next();
    random.normal(); // leaves the pair's second normal pending
    const saved = JSON.parse(JSON.stringify(random.getState()));
    const expected = [random.normal(), random.next(), random.int(1000), random.uniform(-1, 1)];
    const restored = createRandom(99);
    restored.setState(saved);
    expect([
      restored.normal(),
      restored.next(),
      restored.int(1000),
      restored.uniform(-1, 1),
    ]).toEqual(expected);
  });

  it("refuses a malformed state, naming the value", () => {
    const random = createRandom(1);
    expect(() => random.setState({ sfc32: [1, 2, 3], spareNormal: null } as never)).toThrow(
      "Random.setState: sfc32 must be four unsigned 32-bit integers, got [1,2,3]",
    );
    expect(() => random.setState({ sfc32: [1, 2, 3, -1], spareNormal: null })).toThrow(
      "got [1,2,3,-1]",
    );
  });

  it("hashes keys order-sensitively", () => {
    expect(hashSeed(1, "a")).not.toBe(hashSeed("a", 1));
    expect(hashSeed(1, "a")).toBe(hashSeed(1, "a"));
  });
});
