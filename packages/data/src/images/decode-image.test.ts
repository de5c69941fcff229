import { readFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { decodeImage } from "./decode-image";
import { ImageError } from "./image-error";
import { readPixels } from "./read-pixels";

const fixtures = join(import.meta.dirname, "..", "__fixtures__", "images");
const fixture = (name: string): string => join(fixtures, name);

function meanAbsoluteDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

describe("decodeImage on real images", () => {
  it("repeats an 8-bit grayscale X-ray into 3 equal channels on the 0–255 scale", async () => {
    const image = await decodeImage(fixture("chest-gray8.png"));
    expect(image).toMatchObject({
      width: 128,
      height: 128,
      channels: 3,
      bitDepth: 8,
      format: "png",
    });
    const gray = await decodeImage(fixture("chest-gray8.png"), { channels: 1 });
    expect(gray.data).toHaveLength(128 * 128);
    for (let i = 0; i < gray.data.length; i += 1) {
      expect(image.data[i * 3]).toBe(gray.data[i]);
      expect(image.data[i * 3 + 1]).toBe(gray.data[i]);
      expect(image.data[i * 3 + 2]).toBe(gray.data[i]);
    }
    expect(Math.max(...gray.data)).toBeLessThanOrEqual(255);
    expect(Math.max(...gray.data)).toBeGreaterThan(200);
  });

  it.each(["chest-gray16.png", "chest-gray16.tif"])(
    "keeps every bit of 16-bit grayscale (%s), scaled to 0–255",
    async (file) => {
      const expected = new Uint16Array(
        (await readFile(fixture("chest-gray16.raw"))).buffer.slice(0),
      );
      const pixels = await readPixels(fixture(file));
      expect(pixels).toMatchObject({ bitDepth: 16, channels: 1, maxValue: 65535 });
      expect(Array.from(pixels.data)).toEqual(Array.from(expected));
      const image = await decodeImage(fixture(file), { channels: 1 });
      expect(image.bitDepth).toBe(16);
      let fractional = 0;
      for (let i = 0; i < expected.length; i += 1) {
        expect(image.data[i]).toBeCloseTo((expected[i] * 255) / 65535, 4);
        if (!Number.isInteger(image.data[i])) fractional += 1;
      }
      expect(fractional).toBeGreaterThan(expected.length / 2);
      // The same X-ray at 8 bits agrees to within rounding and the ramp (< 1 gray level).
      const eight = await decodeImage(fixture("chest-gray8.png"), { channels: 1 });
      expect(meanAbsoluteDifference(image.data, eight.data)).toBeLessThan(1);
    },
  );

  it("keeps 16-bit precision through a resize", async () => {
    const image = await decodeImage(fixture("chest-gray16.png"), {
      channels: 1,
      resize: { width: 50, height: 50, kernel: "cubic" },
    });
    const steps = new Set(Array.from(image.data, (value) => Math.round(value * 257)));
    // 8-bit output could hold at most 256 levels; 16-bit keeps far more distinct values.
    expect(steps.size).toBeGreaterThan(1000);
  });

  it("expands a palette PNG to RGB matching the unquantized patch", async () => {
    const palette = await decodeImage(fixture("colon-palette.png"));
    const rgb = await decodeImage(fixture("colon-rgb.png"));
    expect(palette).toMatchObject({ width: 96, height: 96, channels: 3, bitDepth: 8 });
    expect(meanAbsoluteDifference(palette.data, rgb.data)).toBeLessThan(8);
    let colored = 0;
    for (let i = 0; i < palette.data.length; i += 3) {
      if (palette.data[i] !== palette.data[i + 1] || palette.data[i + 1] !== palette.data[i + 2]) {
        colored += 1;
      }
    }
    expect(colored).toBeGreaterThan(96 * 96 * 0.9);
    const luma = await decodeImage(fixture("colon-rgb.png"), { channels: 1 });
    expect(luma.channels).toBe(1);
    const first = 0.299 * rgb.data[0] + 0.587 * rgb.data[1] + 0.114 * rgb.data[2];
    expect(Math.abs(luma.data[0] - first)).toBeLessThan(3);
  });

  it("applies EXIF orientation before cropping and resizing", async () => {
    const rotated = await decodeImage(fixture("endo-exif6.jpg"));
    const upright = await decodeImage(fixture("endo-upright.jpg"));
    expect([rotated.width, rotated.height]).toEqual([160, 120]);
    expect(meanAbsoluteDifference(rotated.data, upright.data)).toBeLessThan(4);
    const crop = { left: 10, top: 5, width: 80, height: 60 };
    const resize = { width: 40, height: 30 };
    const rotatedCrop = await decodeImage(fixture("endo-exif6.jpg"), { crop, resize });
    const uprightCrop = await decodeImage(fixture("endo-upright.jpg"), { crop, resize });
    expect(meanAbsoluteDifference(rotatedCrop.data, uprightCrop.data)).toBeLessThan(4);
  });

  it("resizes exactly (aspect not kept) or by short side and center crop", async () => {
    const exact = await decodeImage(fixture("endo-upright.jpg"), {
      resize: { width: 64, height: 64 },
    });
    expect([exact.width, exact.height, exact.sourceWidth, exact.sourceHeight]).toEqual([
      64, 64, 160, 120,
    ]);
    const cropped = await decodeImage(fixture("endo-upright.jpg"), {
      resize: { width: 60, height: 60, mode: "short-side-crop" },
    });
    expect([cropped.width, cropped.height]).toEqual([60, 60]);
    // Short side 120 → 60 halves the image to 80x60; the center 60x60 is source columns 20–139.
    const reference = await decodeImage(fixture("endo-upright.jpg"), {
      crop: { left: 20, top: 0, width: 120, height: 120 },
      resize: { width: 60, height: 60 },
    });
    expect(meanAbsoluteDifference(cropped.data, reference.data)).toBeLessThan(2);
    expect(
      meanAbsoluteDifference(cropped.data, exact.data.subarray(0, cropped.data.length)),
    ).toBeGreaterThan(5);
    const resizeThenCrop = await decodeImage(fixture("endo-upright.jpg"), {
      resize: { width: 64, height: 48, mode: "short-side-crop", shortSide: 96 },
    });
    expect([resizeThenCrop.width, resizeThenCrop.height]).toEqual([64, 48]);
  });

  it("names the file when it is corrupt, missing or refused", async () => {
    const truncated = fixture("chest-truncated.png");
    await expect(decodeImage(truncated)).rejects.toSatisfy(
      (error: unknown) => ImageError.isInstance(error) && error.file === truncated,
    );
    await expect(decodeImage(truncated)).rejects.toThrow(/chest-truncated\.png/);
    await expect(decodeImage(fixture("absent.png"))).rejects.toThrow(/absent\.png: cannot read/);
    await expect(
      decodeImage(Buffer.from("GIF89a nonsense"), { name: "upload-7.gif" }),
    ).rejects.toThrow(/^upload-7\.gif: /);
    await expect(
      decodeImage(fixture("chest-gray8.png"), {
        crop: { left: 100, top: 0, width: 50, height: 10 },
      }),
    ).rejects.toThrow(/chest-gray8\.png: crop .* does not fit inside the 128x128 image/);
  });

  it("drops alpha from gray+alpha and RGBA images", async () => {
    const grayAlpha = await sharp(Buffer.from([10, 255, 200, 0, 30, 128, 250, 255]), {
      raw: { width: 2, height: 2, channels: 2 },
    })
      .png()
      .toBuffer();
    const gray = await decodeImage(grayAlpha, { channels: 1 });
    expect(Array.from(gray.data)).toEqual([10, 200, 30, 250]);
    const rgba = await sharp(Buffer.from([255, 0, 0, 0, 0, 0, 255, 255]), {
      raw: { width: 2, height: 1, channels: 4 },
    })
      .png()
      .toBuffer();
    expect(Array.from((await decodeImage(rgba)).data)).toEqual([255, 0, 0, 0, 0, 255]);
  });

  it("decodes a buffer the same as the file", async () => {
    const fromFile = await decodeImage(fixture("colon-rgb.png"));
    const fromBuffer = await decodeImage(await readFile(fixture("colon-rgb.png")));
    expect(Array.from(fromBuffer.data)).toEqual(Array.from(fromFile.data));
  });
});
