import { describe, expect, it } from "vitest";
import { createRandom } from "../random";
import { ensureUnfilterMemory, unfilterWasm } from "./png-unfilter-wasm";

/** The PNG specification's predictors, written as plainly as it states them. */
function specification(filter: 3 | 4, row: number[], above: number[]): number[] {
  const out: number[] = [];
  for (let x = 0; x < row.length; x += 1) {
    const left = x > 0 ? out[x - 1] : 0;
    const up = above[x];
    const corner = x > 0 ? above[x - 1] : 0;
    let predicted: number;
    if (filter === 3) {
      predicted = Math.floor((left + up) / 2);
    } else {
      const estimate = left + up - corner;
      const toLeft = Math.abs(estimate - left);
      const toUp = Math.abs(estimate - up);
      const toCorner = Math.abs(estimate - corner);
      predicted = toLeft <= toUp && toLeft <= toCorner ? left : toUp <= toCorner ? up : corner;
    }
    out.push((row[x] + predicted) % 256);
  }
  return out;
}

describe("unfilterWasm", () => {
  const wasm = unfilterWasm();

  it("compiles in Node.js", () => {
    expect(wasm).toBeDefined();
  });

  it.each<[3 | 4, string]>([
    [4, "Paeth"],
    [3, "Average"],
  ])(
    "reverses filter %s (%s) exactly as the PNG specification, on every prefix length",
    (filter, _name) => {
      const random = createRandom(filter);
      // Extremes and ties matter for Paeth: draw from a few values as well as from all 256.
      for (const palette of [256, 3]) {
        const above = Array.from(
          { length: 300 },
          () => random.int(palette) * Math.floor(255 / (palette - 1)),
        );
        const row = Array.from({ length: 300 }, () => random.int(256));
        for (const length of [1, 2, 17, 300]) {
          const memory = ensureUnfilterMemory(wasm!, 1000);
          memory.set(above, 100);
          memory.set(row, 500);
          const reverse = filter === 4 ? wasm!.paeth : wasm!.average;
          reverse(500, 500 + length, 100);
          expect(Array.from(memory.subarray(500, 500 + length))).toEqual(
            specification(filter, row.slice(0, length), above),
          );
          // Bytes past the end stay untouched.
          expect(Array.from(memory.subarray(500 + length, 800))).toEqual(row.slice(length));
        }
      }
    },
  );

  it("grows its memory on demand and keeps what it held", () => {
    const small = ensureUnfilterMemory(wasm!, 10);
    small[5] = 42;
    const large = ensureUnfilterMemory(wasm!, 3 * 65536 + 1);
    expect(large.length).toBe(3 * 65536 + 1);
    expect(large[5]).toBe(42);
  });
});
