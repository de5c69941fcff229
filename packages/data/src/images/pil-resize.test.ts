import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { pilResize } from "./pil-resize";
import { pilResizeWasm } from "./pil-resize-wasm";
import { readPixels } from "./read-pixels";

// References from Pillow (scripts/fixtures/images/make-pil-bicubic-fixtures.py):
// `Image.open(f).convert(mode).crop(box).resize(size, Image.BICUBIC)`.
const fixtures = new URL("./__fixtures__/pil-bicubic/", import.meta.url).pathname;
const chestImages = new URL("../../../../../shared/samples/chest/images/", import.meta.url)
  .pathname;

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}
interface Manifest {
  pillow: string;
  synthetic: Array<{
    input: string;
    mode: "L" | "RGB";
    box: Box;
    size: [number, number];
    output: string;
  }>;
  chest: Array<{ image: string; box: Box; size: [number, number]; output: string }>;
}
const manifest = JSON.parse(readFileSync(join(fixtures, "manifest.json"), "utf8")) as Manifest;

/** Decodes a fixture PNG losslessly into its own channels (alpha kept). */
async function decode(path: string): Promise<{
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}> {
  const image = sharp(path);
  const gray = (await image.metadata()).channels === 1;
  // sharp writes sRGB unless told that a one-band image stays one band.
  const { data, info } = await (gray ? image.toColourspace("b-w") : image)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    data: new Uint8Array(data),
    width: info.width,
    height: info.height,
    channels: info.channels,
  };
}

/** Index and values of the first differing sample, or undefined when equal. */
function firstDifference(actual: Uint8Array, expected: Uint8Array): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length} vs ${expected.length}`;
  for (let index = 0; index < actual.length; index += 1) {
    if (actual[index] !== expected[index]) {
      return `sample ${index}: ${actual[index]} vs Pillow's ${expected[index]}`;
    }
  }
  return undefined;
}

/** Cases whose input already is in the resized mode (no conversion before the resize). */
const plain = manifest.synthetic.filter((entry) =>
  entry.mode === "L" ? entry.input.startsWith("gray") : entry.input.startsWith("rgb-"),
);

describe("pilResize", () => {
  it.each(plain.map((entry) => [entry.output, entry] as const))(
    "equals Pillow's bicubic resize byte for byte: %s",
    async (_, entry) => {
      const source = await decode(join(fixtures, entry.input));
      const expected = await decode(join(fixtures, entry.output));
      const [width, height] = entry.size;
      expect(pilResizeWasm(), "WebAssembly SIMD compiles on Node 20").toBeDefined();
      for (const webAssembly of [true, false]) {
        const actual = pilResize(source, width, height, entry.box, { webAssembly });
        expect(
          firstDifference(actual, expected.data),
          `webAssembly ${webAssembly}`,
        ).toBeUndefined();
      }
    },
  );

  it("gives the same bytes in WebAssembly and TypeScript on random sizes and regions", () => {
    let state = 12345;
    const next = (limit: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % limit;
    };
    for (let trial = 0; trial < 60; trial += 1) {
      const channels = 1 + next(3);
      const width = 1 + next(90);
      const height = 1 + next(90);
      const data = new Uint8Array(width * height * channels).map(() =>
        next(4) === 0 ? 255 : next(256),
      );
      const left = next(width);
      const top = next(height);
      const region = { left, top, width: 1 + next(width - left), height: 1 + next(height - top) };
      const outWidth = 1 + next(120);
      const outHeight = 1 + next(120);
      const source = { data, width, height, channels };
      const wasm = pilResize(source, outWidth, outHeight, region);
      const typescript = pilResize(source, outWidth, outHeight, region, { webAssembly: false });
      expect(
        firstDifference(wasm, typescript),
        `${width}x${height}x${channels} ${JSON.stringify(region)} -> ${outWidth}x${outHeight}`,
      ).toBeUndefined();
    }
  });
});

describe("readPixels with a cubic resize", () => {
  it.each(manifest.synthetic.map((entry) => [entry.output, entry] as const))(
    "gives Pillow's convert + crop + bicubic resize from the PNG, both decoders and raw: %s",
    async (_, entry) => {
      const path = join(fixtures, entry.input);
      const expected = await decode(join(fixtures, entry.output));
      const [width, height] = entry.size;
      const options = {
        crop: entry.box,
        resize: { width, height, kernel: "cubic" as const },
        channels: entry.mode === "L" ? (1 as const) : (3 as const),
      };
      const raw = await decode(path);
      const results = [
        await readPixels(path, options),
        await readPixels(path, { ...options, fastPng: false }),
      ];
      if (raw.channels === 1 || raw.channels === 3) {
        results.push(await readPixels({ ...raw, channels: raw.channels }, options));
      }
      for (const pixels of results) {
        expect(pixels).toMatchObject({ width, height, channels: expected.channels, bitDepth: 8 });
        expect(firstDifference(pixels.data as Uint8Array, expected.data)).toBeUndefined();
      }
    },
  );

  it("mirrors Pillow's output when asked to flip", async () => {
    const entry = manifest.synthetic.find((candidate) => candidate.input === "rgb-50x40.png")!;
    const expected = await decode(join(fixtures, entry.output));
    const [width, height] = entry.size;
    const pixels = await readPixels(join(fixtures, entry.input), {
      crop: entry.box,
      resize: { width, height, kernel: "cubic" },
      flip: true,
    });
    const mirrored = new Uint8Array(expected.data.length);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        for (let channel = 0; channel < 3; channel += 1) {
          mirrored[(y * width + x) * 3 + channel] =
            expected.data[(y * width + (width - 1 - x)) * 3 + channel];
        }
      }
    }
    expect(firstDifference(pixels.data as Uint8Array, mirrored)).toBeUndefined();
  });

  it("keeps 16-bit images on sharp's resize, at 16 bits", async () => {
    const sixteen = new Uint16Array(40 * 30).map((_, index) => (index * 977) % 65536);
    const pixels = await readPixels(
      { data: sixteen, width: 40, height: 30, channels: 1 },
      { resize: { width: 20, height: 20, kernel: "cubic" } },
    );
    expect(pixels).toMatchObject({ width: 20, height: 20, bitDepth: 16, maxValue: 65535 });
    expect(pixels.data).toBeInstanceOf(Uint16Array);
  });

  const chest = existsSync(chestImages) && manifest.chest.length > 0;
  it.skipIf(!chest)(
    "gives torchvision's RandomResizedCrop pixels on real chest X-rays (skipped without ../shared/samples)",
    async () => {
      for (const entry of manifest.chest) {
        const expected = await decode(join(fixtures, entry.output));
        const [width, height] = entry.size;
        for (const fastPng of [true, false]) {
          const pixels = await readPixels(join(chestImages, entry.image), {
            crop: entry.box,
            resize: { width, height, kernel: "cubic" },
            fastPng,
          });
          expect(pixels).toMatchObject({ width, height, channels: 1, bitDepth: 8 });
          expect(
            firstDifference(pixels.data as Uint8Array, expected.data),
            `${entry.image} ${JSON.stringify(entry.box)} fastPng ${fastPng}`,
          ).toBeUndefined();
        }
      }
    },
  );
});

describe("pilResize arguments", () => {
  const source = { data: new Uint8Array(12), width: 4, height: 3, channels: 1 };
  it("refuses regions outside the image and sizes that are not positive integers", () => {
    expect(() => pilResize(source, 2, 2, { left: 1, top: 0, width: 4, height: 3 })).toThrow(
      /region .* does not fit inside the 4x3 image/,
    );
    expect(() => pilResize(source, 0, 2)).toThrow(/width must be a positive integer, got 0/);
    expect(() => pilResize({ ...source, data: new Uint8Array(5) }, 2, 2)).toThrow(
      /5 samples, expected 4x3x1/,
    );
  });
});
