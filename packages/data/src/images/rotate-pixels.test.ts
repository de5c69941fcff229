import { describe, expect, it } from "vitest";
import { rotatePixels } from "./rotate-pixels";

describe("rotatePixels", () => {
  const image = {
    data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]),
    width: 3,
    height: 3,
    channels: 1,
    maxValue: 255,
  };

  it("turns counter-clockwise about the center", () => {
    const turned = rotatePixels(image, 90);
    expect(Array.from(turned.data, (value) => Math.round(value * 1000) / 1000)).toEqual([
      3, 6, 9, 2, 5, 8, 1, 4, 7,
    ]);
    expect(Array.from(rotatePixels(image, 0).data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("fills what comes from outside with black and keeps the size", () => {
    const turned = rotatePixels({ ...image, data: new Uint8Array(9).fill(100) }, 45);
    expect(turned.width).toBe(3);
    expect(turned.data[4]).toBeCloseTo(100, 5);
    expect(turned.data[0]).toBeLessThan(100);
  });
});
