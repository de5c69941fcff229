import { readFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { createLoader } from "../loader";
import { preprocessRgba } from "./preprocess-rgba";
import { readPixels } from "./read-pixels";
import { type ResizeOptions, resizedRegion, shortSideCropGeometry } from "./resize-options";

// References from timm's evaluation transform (Resize(floor(size / crop_pct)) of the short side
// or, with crop_mode "squash", of both, then CenterCrop(size), on the RGB image) and from
// transformers' image processors (shortest_edge or {height, width} resizes, centre crops with a
// floored corner), written by scripts/fixtures/images/make-timm-eval-fixtures.py with the resize
// options that name each reference's steps. Manifest paths are relative to packages/data/src.
const root = new URL("../", import.meta.url).pathname;
interface Case {
  input: string;
  reference: "timm" | "transformers";
  resize: Omit<ResizeOptions, "width" | "height">;
  output: string;
}
const manifest = JSON.parse(
  readFileSync(join(root, "images/__fixtures__/timm-eval/manifest.json"), "utf8"),
) as {
  cases: Case[];
};

async function rgb(path: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(path)
    .toColourspace("srgb")
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

/** Count of samples that differ; lengths must agree. */
function differences(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let count = 0;
  for (let index = 0; index < actual.length; index += 1) {
    if (actual[index] !== expected[index]) count += 1;
  }
  return count;
}

describe("timm's and transformers' evaluation resizes (short side or squash, centre crop)", () => {
  it.each(manifest.cases.map((entry) => [entry.reference, entry.output, entry] as const))(
    "gives %s's bytes through readPixels, preprocessRgba and the loader: %s",
    async (_reference, _output, entry) => {
      const input = join(root, entry.input);
      const expected = await rgb(join(root, entry.output));
      const resize = entry.resize;
      const size = expected.width;
      expect(expected.height).toBe(size);

      const pixels = await readPixels(input, {
        channels: 3,
        resize: { ...resize, width: size, height: size },
      });
      expect([pixels.width, pixels.height]).toEqual([size, size]);
      // Gray sources come back with one channel; timm's RGB copy repeats it.
      const reference =
        pixels.channels === 3
          ? expected.data
          : expected.data.filter((_value, index) => index % 3 === 0);
      expect(differences(pixels.data, reference)).toBe(0);

      const decoded = await sharp(input).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      const floats = preprocessRgba(
        {
          data: new Uint8Array(decoded.data),
          width: decoded.info.width,
          height: decoded.info.height,
        },
        { imageSize: size, resize, mean: [0, 0, 0], std: [1, 1, 1] },
      );
      expect(differences(floats, expected.data)).toBe(0);

      const loader = createLoader({
        samples: [{ name: entry.input, labels: new Uint8Array([1]) }],
        dataRoot: root,
        imageSize: size,
        batchSize: 1,
        resize,
        mean: [0, 0, 0],
        std: [1, 1, 1],
      });
      for await (const batch of loader.epoch(0)) {
        expect(differences(batch.images, expected.data)).toBe(0);
      }
    },
  );

  it("differs from transformers' bytes when its crops are placed as torchvision places them", async () => {
    const cropped = manifest.cases.filter(
      (entry) => entry.reference === "transformers" && entry.resize.mode !== "exact",
    );
    expect(cropped.length).toBeGreaterThanOrEqual(3);
    for (const entry of cropped) {
      const expected = await rgb(join(root, entry.output));
      const size = expected.width;
      const pixels = await readPixels(join(root, entry.input), {
        channels: 3,
        resize: { ...entry.resize, convention: "torchvision", width: size, height: size },
      });
      // The fixtures are sized so that half the margin is k + 0.5 with k odd: a pixel apart.
      expect(differences(pixels.data, expected.data), entry.output).toBeGreaterThan(0);
    }
  });

  it("squashes to shortSide before the crop, for square and non-square outputs", () => {
    const squash = { mode: "squash-crop", shortSide: 35 } as const;
    // Any source shape: stretched to 35 x 35, the 32 x 32 crop at 1.5 (floored; half to even 2).
    expect(shortSideCropGeometry({ ...squash, width: 32, height: 32 }, 40, 63)).toEqual({
      scaledWidth: 35,
      scaledHeight: 35,
      left: 1,
      top: 1,
    });
    expect(
      shortSideCropGeometry(
        { ...squash, width: 32, height: 32, convention: "torchvision" },
        63,
        40,
      ),
    ).toMatchObject({ left: 2, top: 2 });
    // A 32 x 48 output: its short side to 35, the long one floor(35 * 48 / 32) = 52.
    expect(shortSideCropGeometry({ ...squash, width: 32, height: 48 }, 200, 100)).toEqual({
      scaledWidth: 35,
      scaledHeight: 52,
      left: 1,
      top: 2,
    });
    expect(() =>
      shortSideCropGeometry({ mode: "squash-crop", shortSide: 30, width: 32, height: 32 }, 64, 64),
    ).toThrow(/squash-crop: a 64x64 image scaled to 30x30 is smaller than the 32x32 crop/);
    // Grad-CAM's region: the crop's 1.5 px margin of 35 maps back to 40 / 35 and 63 / 35 px.
    expect(resizedRegion({ ...squash, width: 32, height: 32 }, 40, 63)).toEqual({
      left: 1,
      top: 2,
      width: 37,
      height: 58,
    });
  });

  it("places the crop as torchvision does where mmcls's rounding differs", () => {
    // A 96-px square to 71 then 64: the corner (71 - 64) / 2 = 3.5 rounds to 4 (half to even).
    const square = { width: 64, height: 64, mode: "short-side-crop", shortSide: 71 } as const;
    expect(shortSideCropGeometry({ ...square, convention: "torchvision" }, 96, 96)).toEqual({
      scaledWidth: 71,
      scaledHeight: 71,
      left: 4,
      top: 4,
    });
    expect(shortSideCropGeometry(square, 96, 96)).toMatchObject({ left: 3, top: 3 });
    // 40x63 to a short side of 27: the long side 42.525 is truncated to 42 (mmcls rounds to 43).
    const portrait = { width: 24, height: 24, mode: "short-side-crop", shortSide: 27 } as const;
    expect(shortSideCropGeometry({ ...portrait, convention: "torchvision" }, 40, 63)).toMatchObject(
      { scaledWidth: 27, scaledHeight: 42 },
    );
    expect(shortSideCropGeometry(portrait, 40, 63)).toMatchObject({ scaledHeight: 43 });
  });

  it("maps the crop back to the source pixels it covers, for Grad-CAM overlays", () => {
    const crop = { width: 32, height: 32, mode: "short-side-crop", shortSide: 35 } as const;
    // 40 x 40 to 35 x 35, corner (2, 2): 2 * 40 / 35 = 2.3 and 32 * 40 / 35 = 36.6 source px.
    expect(resizedRegion({ ...crop, convention: "torchvision" }, 40, 40)).toEqual({
      left: 2,
      top: 2,
      width: 37,
      height: 37,
    });
    // 80 x 40 to 70 x 35: the crop starts at column 19 of 70, 19 * 80 / 70 = 21.7 source px in.
    expect(resizedRegion({ ...crop, convention: "torchvision" }, 80, 40)).toEqual({
      left: 22,
      top: 2,
      width: 37,
      height: 37,
    });
    expect(resizedRegion({ width: 32, height: 32 }, 80, 40)).toEqual({
      left: 0,
      top: 0,
      width: 80,
      height: 40,
    });
  });

  it("refuses a short side below the crop instead of padding as torchvision would", () => {
    expect(() =>
      shortSideCropGeometry(
        {
          width: 64,
          height: 64,
          mode: "short-side-crop",
          shortSide: 60,
          convention: "torchvision",
        },
        96,
        80,
      ),
    ).toThrow(/96x80 image scaled to 72x60 is smaller than the 64x64 crop/);
  });
});
