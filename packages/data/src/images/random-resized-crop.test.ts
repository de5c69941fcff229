import { describe, expect, it } from "vitest";
import { createRandom } from "../random";
import { randomResizedCropBox } from "./random-resized-crop";

describe("randomResizedCropBox", () => {
  it("samples boxes inside the image within the scale and ratio ranges", () => {
    const random = createRandom(1);
    const fractions: number[] = [];
    for (let i = 0; i < 2000; i += 1) {
      const box = randomResizedCropBox(1024, 768, random);
      expect(box.left).toBeGreaterThanOrEqual(0);
      expect(box.top).toBeGreaterThanOrEqual(0);
      expect(box.left + box.width).toBeLessThanOrEqual(1024);
      expect(box.top + box.height).toBeLessThanOrEqual(768);
      const fraction = (box.width * box.height) / (1024 * 768);
      fractions.push(fraction);
      expect(fraction).toBeGreaterThan(0.075);
      expect(fraction).toBeLessThanOrEqual(1);
      const ratio = box.width / box.height;
      expect(ratio).toBeGreaterThan(0.74);
      expect(ratio).toBeLessThan(1.345);
    }
    const mean = fractions.reduce((sum, value) => sum + value, 0) / fractions.length;
    // Uniform area 0.08–1 has mean 0.54; large crops of the wrong shape are rejected more.
    expect(mean).toBeGreaterThan(0.4);
    expect(mean).toBeLessThan(0.56);
    expect(Math.min(...fractions)).toBeLessThan(0.1);
    expect(Math.max(...fractions)).toBeGreaterThan(0.9);
  });

  it("is deterministic per seed and honours custom ranges", () => {
    const a = Array.from({ length: 5 }, (_, i) => randomResizedCropBox(300, 200, createRandom(i)));
    const b = Array.from({ length: 5 }, (_, i) => randomResizedCropBox(300, 200, createRandom(i)));
    expect(a).toEqual(b);
    const random = createRandom(9);
    for (let i = 0; i < 200; i += 1) {
      const box = randomResizedCropBox(400, 400, random, { scale: [0.5, 0.5], ratio: [1, 1] });
      expect(box.width).toBe(283);
      expect(box.height).toBe(283);
    }
  });

  it("falls back to a centered crop clamped to the ratio range, as torchvision", () => {
    expect(randomResizedCropBox(1000, 1, createRandom(3))).toEqual({
      left: 499,
      top: 0,
      width: 1,
      height: 1,
    });
    expect(randomResizedCropBox(3, 900, createRandom(3))).toEqual({
      left: 0,
      top: 448,
      width: 3,
      height: 4,
    });
  });
});
