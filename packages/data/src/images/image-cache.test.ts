import { copyFile, mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createImageCache } from "./image-cache";
import { readPixels } from "./read-pixels";

const fixtures = join(import.meta.dirname, "..", "__fixtures__", "images");
let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "medfm-cache-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe("createImageCache", () => {
  it("stores a downscaled copy once and reads it back from disk", async () => {
    const cacheDir = join(directory, "cache-a");
    const image = join(directory, "endo.jpg");
    await copyFile(join(fixtures, "endo-upright.jpg"), image);
    const cache = createImageCache({ dir: cacheDir, shortSide: 60, channels: 3 });
    const first = await cache.get(image);
    expect([first.width, first.height, first.channels, first.bitDepth]).toEqual([80, 60, 3, 8]);
    const files = await readdir(cacheDir);
    expect(files).toHaveLength(1);
    // Overwrite the cached pixels: a second get must return them, proving it read the cache.
    const entry = await readFile(join(cacheDir, files[0]));
    entry.fill(7, 16);
    await writeFile(join(cacheDir, files[0]), entry);
    const second = await cache.get(image);
    expect(second.data.every((value) => value === 7)).toBe(true);
    // A changed source (new modification time) gets a fresh entry.
    await utimes(image, new Date(), new Date(Date.now() + 5000));
    const third = await cache.get(image);
    expect(third.data.every((value) => value === 7)).toBe(false);
    expect(await readdir(cacheDir)).toHaveLength(2);
  });

  it("keeps 16-bit grayscale and never enlarges", async () => {
    const cache = createImageCache({
      dir: join(directory, "cache-b"),
      shortSide: 512,
      channels: 3,
    });
    const path = join(fixtures, "chest-gray16.png");
    const cached = await cache.get(path);
    const direct = await readPixels(path);
    expect([cached.width, cached.height, cached.channels, cached.bitDepth]).toEqual([
      128, 128, 1, 16,
    ]);
    expect(Array.from(cached.data)).toEqual(Array.from(direct.data));
    const again = await createImageCache({
      dir: join(directory, "cache-b"),
      shortSide: 512,
      channels: 3,
    }).get(path);
    expect(again.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(again.data)).toEqual(Array.from(direct.data));
  });

  it("names the file when the source is corrupt", async () => {
    const cache = createImageCache({ dir: join(directory, "cache-c"), shortSide: 32, channels: 3 });
    await expect(cache.get(join(fixtures, "chest-truncated.png"))).rejects.toThrow(
      /chest-truncated\.png/,
    );
  });
});
