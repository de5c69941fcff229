import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { createLoader } from "../loader";
import { cv2Resize } from "./cv2-resize";
import type { PilFilter } from "./pil-filters";
import { pilResize } from "./pil-resize";
import { pilResize16 } from "./pil-resize-16";
import { readPixels } from "./read-pixels";
import type { ResizeBackend, ResizeKernel } from "./resize-options";

// References from Pillow and OpenCV (scripts/fixtures/images/make-resize-parity-fixtures.py):
// `Image.open(f).convert(mode).crop(box).resize(size, FILTER)` and
// `cv2.resize(array[box], size, interpolation=INTER_...)`.
const fixtures = new URL("./__fixtures__/resize-parity/", import.meta.url).pathname;
const chestImages = new URL("../../../../../shared/samples/chest/images/", import.meta.url)
  .pathname;

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}
type Method = `pil-${PilFilter}` | "cv2-linear" | "cv2-nearest";
interface Manifest {
  pillow: string;
  opencv: string;
  synthetic: Array<{
    input: string;
    mode: "L" | "RGB" | "I;16";
    box: Box;
    size: [number, number];
    method: Method;
    output: string;
  }>;
  shared: Array<{
    image: string;
    box: Box;
    size: [number, number];
    method: Method;
    output: string;
  }>;
}
const manifest = JSON.parse(readFileSync(join(fixtures, "manifest.json"), "utf8")) as Manifest;

/** The readPixels resize options that name `method`. */
const kernelOf: Record<PilFilter | "linear", ResizeKernel> = {
  nearest: "nearest",
  box: "box",
  bilinear: "linear",
  hamming: "hamming",
  bicubic: "cubic",
  lanczos: "lanczos3",
  linear: "linear",
};
function resizeOf(method: Method): { kernel: ResizeKernel; backend: ResizeBackend } {
  const [backend, name] = method.split("-") as ["pil" | "cv2", PilFilter | "linear"];
  return { kernel: kernelOf[name], backend: backend === "pil" ? "pillow" : "cv2" };
}

/** Decodes a fixture PNG losslessly into its own channels and bit depth. */
async function decode(path: string): Promise<{
  data: Uint8Array | Uint16Array;
  width: number;
  height: number;
  channels: number;
}> {
  const image = sharp(path);
  const metadata = await image.metadata();
  const sixteen = metadata.depth === "ushort";
  const gray = metadata.channels === 1;
  const { data, info } = await image
    .toColourspace(gray ? (sixteen ? "grey16" : "b-w") : "srgb")
    .raw(sixteen ? { depth: "ushort" } : {})
    .toBuffer({ resolveWithObject: true });
  const copy = Buffer.from(data);
  return {
    data: sixteen
      ? new Uint16Array(copy.buffer, copy.byteOffset, copy.byteLength / 2)
      : new Uint8Array(copy),
    width: info.width,
    height: info.height,
    channels: info.channels,
  };
}

/** The largest absolute difference, and where it is; lengths must agree. */
function maxDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): string {
  if (actual.length !== expected.length) return `length ${actual.length} vs ${expected.length}`;
  let worst = 0;
  let at = -1;
  for (let index = 0; index < actual.length; index += 1) {
    const difference = Math.abs(actual[index] - expected[index]);
    if (difference > worst) {
      worst = difference;
      at = index;
    }
  }
  return worst === 0 ? "equal" : `max difference ${worst} at sample ${at}`;
}

describe("resize kernels against Pillow and OpenCV", () => {
  it.each(manifest.synthetic.map((entry) => [entry.output, entry] as const))(
    "reproduces the reference exactly, in the resampler and through readPixels: %s",
    async (_, entry) => {
      const source = await decode(join(fixtures, entry.input));
      const expected = await decode(join(fixtures, entry.output));
      const [width, height] = entry.size;
      const direct: Array<ArrayLike<number>> = [];
      if (entry.mode === "I;16" && entry.method.startsWith("cv2-")) {
        // cv2's 16-bit nearest pick is only reachable through readPixels.
      } else if (entry.method.startsWith("cv2-")) {
        const interpolation = entry.method === "cv2-linear" ? "linear" : "nearest";
        direct.push(cv2Resize(source as never, width, height, entry.box, interpolation));
      } else if (entry.mode === "I;16") {
        const filter = entry.method.slice(4) as PilFilter;
        direct.push(pilResize16(source as never, width, height, entry.box, filter));
      } else {
        const filter = entry.method.slice(4) as PilFilter;
        for (const webAssembly of [true, false]) {
          direct.push(
            pilResize(source as never, width, height, entry.box, { filter, webAssembly }),
          );
        }
      }
      const path = join(fixtures, entry.input);
      const options = { crop: entry.box, resize: { width, height, ...resizeOf(entry.method) } };
      const pixels = [
        await readPixels(path, options),
        await readPixels(path, { ...options, fastPng: false }),
      ];
      for (const actual of [...direct, ...pixels.map((result) => result.data)]) {
        expect(maxDifference(actual, expected.data)).toBe("equal");
      }
      for (const result of pixels) {
        expect(result).toMatchObject({
          width,
          height,
          channels: expected.channels,
          bitDepth: entry.mode === "I;16" ? 16 : 8,
        });
      }
    },
  );

  it("makes the default kernel Pillow's bilinear, as torchvision's Resize on a PIL image", async () => {
    const entry = manifest.synthetic.find(
      (candidate) => candidate.method === "pil-bilinear" && candidate.mode === "L",
    )!;
    const expected = await decode(join(fixtures, entry.output));
    const [width, height] = entry.size;
    const pixels = await readPixels(join(fixtures, entry.input), {
      crop: entry.box,
      resize: { width, height },
    });
    expect(maxDifference(pixels.data, expected.data)).toBe("equal");
  });

  const shared = existsSync(chestImages) && manifest.shared.length > 0;
  it.skipIf(!shared)(
    "reproduces Pillow and cv2 on whole 1024x1024 chest X-rays (skipped without ../shared/samples)",
    async () => {
      for (const entry of manifest.shared) {
        const expected = await decode(join(fixtures, entry.output));
        const [width, height] = entry.size;
        for (const fastPng of [true, false]) {
          const pixels = await readPixels(join(chestImages, entry.image), {
            crop: entry.box,
            resize: { width, height, ...resizeOf(entry.method) },
            fastPng,
          });
          expect(
            maxDifference(pixels.data, expected.data),
            `${entry.image} ${entry.method} fastPng ${fastPng}`,
          ).toBe("equal");
        }
      }
    },
  );
});

describe("the loader's resize", () => {
  it.each([0, 1])(
    "gives Pillow's bilinear by default and cv2's INTER_LINEAR with backend cv2 (workers %i)",
    async (workers) => {
      for (const method of ["pil-bilinear", "cv2-linear"] as const) {
        const entry = manifest.synthetic.find(
          (candidate) =>
            candidate.input === "chest-crop-96x80.png" &&
            candidate.box.width === 96 &&
            candidate.method === method,
        )!;
        const expected = await decode(join(fixtures, entry.output));
        const [width, height] = entry.size;
        const loader = createLoader({
          samples: [{ name: entry.input, labels: Uint8Array.of(1) }],
          dataRoot: fixtures,
          imageSize: [height, width],
          batchSize: 1,
          channels: 1,
          mean: [0],
          std: [1],
          workers,
          resize: method === "cv2-linear" ? { backend: "cv2" } : undefined,
        });
        try {
          const batches = [];
          for await (const batch of loader.epoch(0)) batches.push(batch);
          expect(batches).toHaveLength(1);
          expect(maxDifference(batches[0].images, expected.data), method).toBe("equal");
        } finally {
          await loader.close();
        }
      }
    },
  );
});

describe("resize options", () => {
  const image = { data: new Uint8Array(12), width: 4, height: 3, channels: 1 as const };
  it("refuses kernels a backend has no exact counterpart for, and unknown names", async () => {
    await expect(
      readPixels(image, { resize: { width: 2, height: 2, kernel: "cubic", backend: "cv2" } }),
    ).rejects.toThrow(/kernel cubic has no exact cv2 counterpart/);
    await expect(
      readPixels(image, { resize: { width: 2, height: 2, kernel: "hamming", backend: "sharp" } }),
    ).rejects.toThrow(/hamming is not a sharp kernel/);
    await expect(
      readPixels(image, { resize: { width: 2, height: 2, kernel: "bilinear" as never } }),
    ).rejects.toThrow(/resize.kernel must be one of .*, got bilinear/);
  });

  it("keeps sharp's resize under backend sharp, which differs from Pillow's", async () => {
    const entry = manifest.synthetic.find(
      (candidate) => candidate.method === "pil-bilinear" && candidate.mode === "L",
    )!;
    const expected = await decode(join(fixtures, entry.output));
    const [width, height] = entry.size;
    const pixels = await readPixels(join(fixtures, entry.input), {
      crop: entry.box,
      resize: { width, height, kernel: "linear", backend: "sharp" },
    });
    expect(pixels).toMatchObject({ width, height, channels: 1 });
    expect(maxDifference(pixels.data, expected.data)).not.toBe("equal");
  });
});
