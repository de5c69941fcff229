import { describe, expect, it } from "vitest";
import { IMAGENET_MEAN, IMAGENET_STD, normalizeInto } from "./normalize";

// A 2x2 grayscale image and a 2x1 RGB image with hand-checked expectations.
const gray = {
  data: Uint8Array.from([0, 64, 128, 255]),
  width: 2,
  height: 2,
  channels: 1,
  maxValue: 255,
};

describe("normalizeInto", () => {
  it("repeats grayscale and applies mmpretrain's ImageNet mean/std on the 0–255 scale", () => {
    const target = new Float32Array(12);
    expect(normalizeInto(target, 0, gray)).toBe(12);
    expect(target[0]).toBeCloseTo(-123.675 / 58.395, 6);
    expect(target[1]).toBeCloseTo(-116.28 / 57.12, 6);
    expect(target[2]).toBeCloseTo(-103.53 / 57.375, 6);
    expect(target[9]).toBeCloseTo((255 - 123.675) / 58.395, 6);
    expect(target[11]).toBeCloseTo((255 - 103.53) / 57.375, 6);
    expect(IMAGENET_MEAN).toEqual([123.675, 116.28, 103.53]);
    expect(IMAGENET_STD).toEqual([58.395, 57.12, 57.375]);
  });

  it("writes at an offset, mirrors rows when flipping and scales 16-bit data", () => {
    const target = new Float32Array(6).fill(Number.NaN);
    normalizeInto(target, 2, gray, { channels: 1, mean: [0], std: [1], flip: true });
    expect(Array.from(target)).toEqual([Number.NaN, Number.NaN, 64, 0, 255, 128]);
    const sixteen = {
      data: Uint16Array.from([65535, 257, 1, 0]),
      width: 4,
      height: 1,
      channels: 1,
      maxValue: 65535,
    };
    const out = new Float32Array(4);
    normalizeInto(out, 0, sixteen, { channels: 1, mean: [0], std: [1] });
    expect(out[0]).toBeCloseTo(255, 4);
    expect(out[1]).toBeCloseTo(1, 5);
    expect(out[2]).toBeCloseTo(255 / 65535, 7);
  });

  it("matches torchvision's brightness then contrast formulas", () => {
    const rgb = {
      data: Uint8Array.from([200, 100, 50, 20, 240, 10]),
      width: 2,
      height: 1,
      channels: 3,
      maxValue: 255,
    };
    const target = new Float32Array(6);
    normalizeInto(target, 0, rgb, {
      mean: [0, 0, 0],
      std: [1, 1, 1],
      brightness: 1.5,
      contrast: 0.5,
    });
    const bright = [300, 150, 75, 30, 360, 15].map((value) => Math.min(255, value));
    const luma = (r: number, g: number, b: number) => 0.299 * r + 0.587 * g + 0.114 * b;
    // torchvision: the grayscale mean of the brightness-adjusted, clamped image.
    const meanBefore = (luma(255, 150, 75) + luma(30, 255, 15)) / 2;
    bright.forEach((value, i) => {
      expect(target[i]).toBeCloseTo(
        Math.min(255, Math.max(0, (value - meanBefore) * 0.5 + meanBefore)),
        3,
      );
    });
  });

  it("refuses mismatched channels and a short target", () => {
    const rgb = { data: new Uint8Array(3), width: 1, height: 1, channels: 3, maxValue: 255 };
    expect(() => normalizeInto(new Float32Array(1), 0, rgb, { channels: 1 })).toThrow(
      /3 source channels/,
    );
    expect(() => normalizeInto(new Float32Array(11), 0, gray)).toThrow(/holds 11 floats, need 12/);
  });
});
