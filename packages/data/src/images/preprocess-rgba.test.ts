import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { normalizeInto } from "./normalize";
import { preprocessRgba, type RgbaImage } from "./preprocess-rgba";
import { readPixels } from "./read-pixels";
import type { ResizeOptions } from "./resize-options";

const samples = fileURLToPath(new URL("../../../../../shared/samples/", import.meta.url));
const colon = join(samples, "colon", "images");
const chest = join(samples, "chest", "images");
const haveSamples = existsSync(colon) && existsSync(chest);

/** RGBA bytes as a browser's canvas holds them (gray repeated, opaque alpha). */
async function rgbaOf(file: string): Promise<RgbaImage> {
  const { data, info } = await sharp(file)
    .toColourspace("srgb")
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

/** The loader's evaluation input for a file: readPixels' resize, then normalizeInto. */
async function loaderInput(
  file: string,
  size: number,
  resize: Omit<ResizeOptions, "width" | "height"> = {},
): Promise<Float32Array> {
  const pixels = await readPixels(file, {
    channels: 3,
    resize: { mode: "exact", ...resize, width: size, height: size },
  });
  const values = new Float32Array(size * size * 3);
  normalizeInto(values, 0, pixels);
  return values;
}

describe.skipIf(!haveSamples)("preprocessRgba", () => {
  it.each([
    ["an RGB histology patch", () => join(colon, "crcval_png_TUM-TCGA-DRHQMTQA.png")],
    ["a grayscale chest X-ray", () => join(chest, "00000129_000.png")],
  ])("gives the loader's input for %s (Pillow bilinear, ImageNet mean/std)", async (_, file) => {
    const path = file();
    const expected = await loaderInput(path, 64);
    const actual = preprocessRgba(await rgbaOf(path), { imageSize: 64 });
    expect(actual).toEqual(expected);
  });

  it("follows short-side-crop, the cv2 backend and other kernels as readPixels does", async () => {
    const path = join(chest, "00000404_000.png");
    const rgba = await rgbaOf(path);
    for (const resize of [
      { mode: "short-side-crop", shortSide: 40 },
      { backend: "cv2", kernel: "linear" },
      { kernel: "cubic" },
    ] as const) {
      expect(preprocessRgba(rgba, { imageSize: 32, resize })).toEqual(
        await loaderInput(path, 32, resize),
      );
    }
  });

  it("refuses the sharp backend and data of the wrong length, naming the value", () => {
    const image = { data: new Uint8Array(4 * 4 * 4), width: 4, height: 4 };
    expect(() => preprocessRgba(image, { imageSize: 2, resize: { backend: "sharp" } })).toThrow(
      'preprocessRgba: resize backend "sharp" is not available here (pillow and cv2 are)',
    );
    expect(() => preprocessRgba({ ...image, data: new Uint8Array(10) }, { imageSize: 2 })).toThrow(
      "preprocessRgba: image data holds 10 bytes, expected 4x4x4",
    );
  });
});
