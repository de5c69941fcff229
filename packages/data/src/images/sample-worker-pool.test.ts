import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageError } from "./image-error";
import { loadSample, type SampleRecipe } from "./load-sample";
import { createSampleWorkerPool } from "./sample-worker-pool";

let directory: string;
const recipe: SampleRecipe = {
  seed: 4,
  augment: { randomResizedCrop: true, horizontalFlip: 0.5, rotation: 5 },
  resize: { width: 20, height: 16, mode: "exact" },
  cropResize: { width: 20, height: 16, mode: "exact", kernel: "cubic" },
  channels: 3,
  mean: [123.675, 116.28, 103.53],
  std: [58.395, 57.12, 57.375],
};

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "medfm-worker-pool-"));
  const gray = new Uint8Array(61 * 47).map((_, index) => (index * 37) % 251);
  await sharp(gray, { raw: { width: 61, height: 47, channels: 1 } })
    .png()
    .toFile(join(directory, "gray.png"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe("createSampleWorkerPool", () => {
  it("starts from the TypeScript sources and loads samples as the calling thread does", async () => {
    const pool = createSampleWorkerPool(2, recipe);
    expect(pool, "the worker entry is found beside the module").toBeDefined();
    try {
      const path = join(directory, "gray.png");
      const floats = 20 * 16 * 3;
      const shared = new Float32Array(new SharedArrayBuffer(4 * floats * 4));
      await Promise.all(
        [0, 1, 2, 3].map((sampleIndex) =>
          pool!.load(path, sampleIndex, 7, shared, sampleIndex * floats),
        ),
      );
      const results = [0, 1, 2, 3].map((sampleIndex) =>
        Float32Array.from(shared.subarray(sampleIndex * floats, (sampleIndex + 1) * floats)),
      );
      for (const [sampleIndex, pixels] of results.entries()) {
        const expected = new Float32Array(20 * 16 * 3);
        await loadSample(expected, 0, path, path, recipe, sampleIndex, 7);
        expect(Buffer.compare(Buffer.from(pixels.buffer), Buffer.from(expected.buffer))).toBe(0);
      }
      // Different samples draw different crops.
      expect(
        Buffer.compare(Buffer.from(results[0].buffer), Buffer.from(results[1].buffer)),
      ).not.toBe(0);
      const missing = join(directory, "missing.png");
      const error = await pool!.load(missing, 0, 0, shared, 0).catch((caught: unknown) => caught);
      expect(ImageError.isInstance(error)).toBe(true);
      expect((error as ImageError).file).toBe(missing);
      expect((error as Error).message).toMatch(/missing\.png: cannot read image/);
      await expect(pool!.load(path, 0, 0, new Float32Array(floats), 0)).rejects.toThrow(
        /must view a SharedArrayBuffer/,
      );
    } finally {
      await pool?.close();
    }
  });
});
