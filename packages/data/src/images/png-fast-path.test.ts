import { existsSync, readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { createRandom } from "../random";
import { ImageError } from "./image-error";
import {
  decodePngRegion,
  inflatePngRows,
  type PngLayout,
  type PngRegion,
  planPng,
  unfilterPngRegion,
} from "./png-fast-path";
import { randomResizedCropBox } from "./random-resized-crop";
import { type ReadPixelsOptions, readPixels } from "./read-pixels";
import type { CropBox } from "./resize-options";

const fixtures = join(import.meta.dirname, "__fixtures__", "png");
const fixture = (name: string): string => join(fixtures, name);
const synthetic = readdirSync(fixtures).filter(
  (name) => /^(gray|gray-alpha|rgb|rgba)-(8|16)-/.test(name) && !/trns|raw-profile/.test(name),
);
const samples = join(import.meta.dirname, "..", "..", "..", "..", "..", "shared", "samples");

function planned(bytes: Uint8Array): PngLayout {
  const layout = planPng(bytes);
  if ("declined" in layout) throw new Error(`fast path declined: ${layout.declined}`);
  return layout;
}

async function region(layout: PngLayout, box: CropBox): Promise<PngRegion> {
  const result = await decodePngRegion(layout, box);
  if ("declined" in result) throw new Error(`fast path gave up: ${result.declined}`);
  return result;
}

/** What sharp decodes for `box` of the file: alpha and bit depth kept, as raw samples. */
async function sharpRegion(bytes: Uint8Array, box: CropBox): Promise<number[]> {
  const metadata = await sharp(bytes).metadata();
  const sixteen = metadata.depth === "ushort";
  const gray = (metadata.channels ?? 3) <= 2;
  // sharp writes 8-bit gray as one band even with alpha: read gray + alpha from RGBA.
  const grayAlpha = metadata.channels === 2 && !sixteen;
  const space = gray && !grayAlpha ? (sixteen ? "grey16" : "b-w") : sixteen ? "rgb16" : "srgb";
  const { data } = await sharp(bytes)
    .extract(box)
    .toColourspace(space)
    .raw(sixteen ? { depth: "ushort" } : {})
    .toBuffer({ resolveWithObject: true });
  if (grayAlpha) return Array.from(data).filter((_, index) => index % 4 === 0 || index % 4 === 3);
  return sixteen
    ? Array.from(new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)))
    : Array.from(data);
}

/** Boxes that touch each edge, the first row and column, a single pixel, and the whole image. */
function boxes(width: number, height: number): CropBox[] {
  return [
    { left: 0, top: 0, width, height },
    { left: 0, top: 0, width: 1, height: 1 },
    { left: 3, top: 2, width: width - 7, height: height - 5 },
    { left: width - 5, top: height - 4, width: 5, height: 4 },
    { left: 1, top: height - 1, width: width - 1, height: 1 },
  ];
}

async function expectSameReadPixels(path: string, options: ReadPixelsOptions): Promise<void> {
  const fast = await readPixels(path, { ...options, fastPng: true });
  const slow = await readPixels(path, { ...options, fastPng: false });
  expect({ ...fast, data: undefined }).toEqual({ ...slow, data: undefined });
  expect(fast.data.constructor).toBe(slow.data.constructor);
  const fastBytes = Buffer.from(fast.data.buffer, fast.data.byteOffset, fast.data.byteLength);
  const slowBytes = Buffer.from(slow.data.buffer, slow.data.byteOffset, slow.data.byteLength);
  expect(Buffer.compare(fastBytes, slowBytes)).toBe(0);
}

describe("PNG fast path on synthetic PNGs", () => {
  it("covers every filter type for every color type at 8 and 16 bits", () => {
    expect(synthetic).toHaveLength(2 * 4 * 5 + 1);
  });

  it.each(synthetic)("%s: decoded rectangles equal sharp's, sample for sample", async (name) => {
    const bytes = await readFile(fixture(name));
    const layout = planned(bytes);
    if (!name.includes("harmless")) expect(layout.idat.length).toBeGreaterThan(1);
    for (const box of boxes(layout.width, layout.height)) {
      const decoded = await region(layout, box);
      expect(decoded).toMatchObject({ width: box.width, height: box.height });
      expect(Array.from(decoded.data)).toEqual(await sharpRegion(bytes, box));
    }
  });

  it("decodes the same pixels whichever filter each row was written with", async () => {
    for (const kind of ["gray-8", "gray-alpha-8", "rgb-8", "rgba-8", "gray-16", "rgba-16"]) {
      const decoded = await Promise.all(
        ["none", "sub", "up", "average", "paeth"].map(async (filter) => {
          const layout = planned(await readFile(fixture(`${kind}-${filter}.png`)));
          const whole = await region(layout, { left: 0, top: 0, width: 19, height: 13 });
          return Array.from(whole.data);
        }),
      );
      for (const other of decoded.slice(1)) expect(other).toEqual(decoded[0]);
    }
  });

  it.each(synthetic)("%s: readPixels gives the same output with and without it", async (name) => {
    const path = fixture(name);
    await expectSameReadPixels(path, {});
    await expectSameReadPixels(path, {
      crop: { left: 2, top: 3, width: 11, height: 9 },
      resize: { width: 7, height: 5, kernel: "cubic" },
      flip: true,
    });
    await expectSameReadPixels(path, { channels: 1, resize: { width: 30, height: 20 } });
  });

  it("inflates only the rows asked for, and unfilters 8-bit gray without touching them", async () => {
    const layout = planned(await readFile(fixture("gray-8-paeth.png")));
    const rows = await inflatePngRows(layout, 5);
    if ("declined" in rows) throw new Error(rows.declined);
    expect(rows.length).toBe(5 * (19 + 1));
    const before = Array.from(rows);
    const box = { left: 2, top: 1, width: 9, height: 4 };
    const decoded = unfilterPngRegion(rows, layout, box);
    expect(Array.from(rows)).toEqual(before);
    expect(Array.from((decoded as PngRegion).data)).toEqual(
      await sharpRegion(await readFile(fixture("gray-8-paeth.png")), box),
    );
    expect(unfilterPngRegion(rows, layout, { ...box, height: 5 })).toEqual({
      declined: "100 bytes of rows, the box needs 120",
    });
  });

  it("leaves palette, interlaced, transparency-keyed, profiled and non-PNG files to sharp", async () => {
    const interlaced = await sharp(fixture("rgb-8-paeth.png"))
      .png({ progressive: true })
      .toBuffer();
    const palette = await sharp(fixture("rgb-8-paeth.png"))
      .png({ palette: true, colours: 16 })
      .toBuffer();
    const jpeg = await sharp(fixture("rgb-8-paeth.png")).jpeg().toBuffer();
    const declined = (bytes: Uint8Array): string => {
      const plan = planPng(bytes);
      return "declined" in plan ? plan.declined : "planned";
    };
    expect(declined(interlaced)).toBe("interlaced");
    expect(declined(palette)).toBe("color type 3");
    expect(declined(jpeg)).toBe("not a PNG");
    expect(declined(await readFile(fixture("gray-8-trns.png")))).toBe("tRNS chunk");
    expect(declined(await readFile(fixture("gray-8-raw-profile-text.png")))).toBe("tEXt chunk");
    expect(declined(await readFile(fixture("gray-8-harmless-chunks.png")))).toBe("planned");
    // Declined files still decode, through sharp.
    const transparent = await readPixels(fixture("gray-8-trns.png"));
    expect(transparent).toMatchObject({ width: 19, height: 13, channels: 1 });
    expect(await readPixels(interlaced)).toMatchObject({ width: 19, height: 13, channels: 3 });
  });
});

describe("PNG fast path on broken files", () => {
  it.each([
    ["broken-truncated.png", "IDAT chunk at byte 33 is truncated"],
    ["broken-crc.png", "IDAT chunk at byte 33 has a wrong CRC"],
  ])("%s is declined (%s) and readPixels fails naming the file", async (name, reason) => {
    const path = fixture(name);
    expect(planPng(await readFile(path))).toEqual({ declined: reason });
    const error = await readPixels(path).catch((caught: unknown) => caught);
    expect(ImageError.isInstance(error)).toBe(true);
    expect((error as ImageError).file).toBe(path);
    expect((error as Error).message).toContain(path);
  });

  it.each([
    ["broken-filter.png", "row 3 has filter type 7"],
    ["broken-zlib.png", "image data does not inflate (incorrect header check)"],
  ])("%s: the decoder gives up (%s) and readPixels fails naming the file", async (name, reason) => {
    const path = fixture(name);
    const layout = planned(await readFile(path));
    expect(await decodePngRegion(layout, { left: 0, top: 0, width: 19, height: 13 })).toEqual({
      declined: reason,
    });
    const error = await readPixels(path).catch((caught: unknown) => caught);
    expect(ImageError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain(path);
  });

  it("calls a crop function once even when the fast path gives up", async () => {
    let calls = 0;
    await readPixels(fixture("broken-filter.png"), {
      crop: (width, height) => {
        calls += 1;
        return { left: 0, top: 0, width, height };
      },
    }).catch(() => undefined);
    expect(calls).toBe(1);
  });
});

const realPngs = existsSync(samples)
  ? readdirSync(samples).flatMap((task) => {
      const images = join(samples, task, "images");
      return existsSync(images)
        ? readdirSync(images)
            .filter((name) => name.endsWith(".png"))
            .map((name) => join(images, name))
        : [];
    })
  : [];
if (realPngs.length === 0) {
  console.log(`skipped the real-PNG fast path tests: no PNGs under ${samples} (../shared absent)`);
}

describe.skipIf(realPngs.length === 0)("PNG fast path on the real sample PNGs", () => {
  it("decodes every sample PNG and its RandomResizedCrop exactly as sharp does", async () => {
    const random = createRandom(7);
    let fast = 0;
    for (const path of realPngs) {
      const bytes = await readFile(path);
      const layout = planPng(bytes);
      if ("declined" in layout) continue;
      fast += 1;
      const whole = { left: 0, top: 0, width: layout.width, height: layout.height };
      const decoded = (await region(layout, whole)).data;
      const expected = await sharpRegion(bytes, whole);
      // every(): a million-sample toEqual would take seconds per image.
      expect(decoded.length).toBe(expected.length);
      expect(decoded.every((value, index) => value === expected[index])).toBe(true);
      for (let draw = 0; draw < 2; draw += 1) {
        const box = randomResizedCropBox(layout.width, layout.height, random);
        await expectSameReadPixels(path, {
          crop: box,
          resize: { width: 224, height: 224, kernel: "cubic" },
          flip: draw === 1,
        });
      }
    }
    // The chest X-rays (8-bit gray) and colon patches (8-bit RGB) all take the fast path.
    expect(fast).toBe(realPngs.length);
  });
});
