import { describe, expect, it } from "vitest";
import { createRandom } from "../random";
import { ensureUnfilterMemory, MAX_WAVEFRONT_ROWS, unfilterWasm } from "./png-unfilter-wasm";

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
          wasm!.reverse([filter], 500, 500 + length, 400);
          expect(Array.from(memory.subarray(500, 500 + length))).toEqual(
            specification(filter, row.slice(0, length), above),
          );
          // Bytes past the end stay untouched.
          expect(Array.from(memory.subarray(500 + length, 800))).toEqual(row.slice(length));
        }
      }
    },
  );

  it("reverses up to MAX_WAVEFRONT_ROWS consecutive rows together, each filter in any order", () => {
    expect(MAX_WAVEFRONT_ROWS).toBe(3);
    const random = createRandom(7);
    const stride = 257;
    const width = 250;
    for (let count = 1; count <= MAX_WAVEFRONT_ROWS; count += 1) {
      for (let pattern = 0; pattern < 2 ** count; pattern += 1) {
        const filters = Array.from({ length: count }, (_, row) =>
          (pattern >> row) & 1 ? 4 : 3,
        ) as (3 | 4)[];
        for (const [palette, length] of [
          [256, width],
          [3, width],
          [256, 1],
          [3, 2],
        ]) {
          const rows = Array.from({ length: count + 2 }, () =>
            Array.from(
              { length: stride },
              () => random.int(palette) * Math.floor(255 / (palette - 1)),
            ),
          );
          const memory = ensureUnfilterMemory(wasm!, 2000);
          rows.forEach((row, index) => {
            memory.set(row, 100 + index * stride);
          });
          wasm!.reverse(filters, 100 + stride, 100 + stride + length, stride);
          let previous = rows[0];
          filters.forEach((filter, index) => {
            const at = 100 + (index + 1) * stride;
            const expected = specification(filter, rows[index + 1].slice(0, length), previous);
            expect(Array.from(memory.subarray(at, at + length))).toEqual(expected);
            expect(Array.from(memory.subarray(at + length, at + stride))).toEqual(
              rows[index + 1].slice(length),
            );
            previous = [...expected, ...rows[index + 1].slice(length)];
          });
          // The rows above and the row after the last one stay as they were.
          expect(Array.from(memory.subarray(100, 100 + stride))).toEqual(rows[0]);
          const after = 100 + (count + 1) * stride;
          expect(Array.from(memory.subarray(after, after + stride))).toEqual(rows[count + 1]);
        }
      }
    }
  });

  it("refuses a sequence it has no function for", () => {
    expect(() => wasm!.reverse([4, 4, 4, 4], 0, 1, 1)).toThrow(/no wasm unfilter/);
  });

  it("grows its memory on demand and keeps what it held", () => {
    const small = ensureUnfilterMemory(wasm!, 10);
    small[5] = 42;
    const large = ensureUnfilterMemory(wasm!, 3 * 65536 + 1);
    expect(large.length).toBe(3 * 65536 + 1);
    expect(large[5]).toBe(42);
  });
});
