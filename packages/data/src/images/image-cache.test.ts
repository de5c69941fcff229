import { createHash } from "node:crypto";
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  utimes,
  writeFile,
} from "node:fs/promises";
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

  it("does not read entries written before the downscale became Pillow's LANCZOS", async () => {
    const cacheDir = join(directory, "cache-old");
    await mkdir(cacheDir, { recursive: true });
    const image = join(directory, "endo-old.jpg");
    await copyFile(join(fixtures, "endo-upright.jpg"), image);
    const info = await stat(image);
    // The key and entry layout of the cache before pixel revision 2 (sharp's lanczos3).
    const oldKey = createHash("sha256")
      .update(JSON.stringify([image, info.size, info.mtimeMs, 60, 3]))
      .digest("hex")
      .slice(0, 32);
    const header = Buffer.alloc(16);
    header.writeUInt32LE(0x3143464d, 0);
    header.writeUInt32LE(80, 4);
    header.writeUInt32LE(60, 8);
    header[12] = 3;
    header[13] = 8;
    await writeFile(
      join(cacheDir, `${oldKey}.raw`),
      Buffer.concat([header, Buffer.alloc(80 * 60 * 3, 7)]),
    );
    const cached = await createImageCache({ dir: cacheDir, shortSide: 60, channels: 3 }).get(image);
    expect(cached.data.every((value) => value === 7)).toBe(false);
    const full = await readPixels(image);
    const expected = await readPixels(full, {
      resize: { width: 80, height: 60, kernel: "lanczos3", backend: "pillow" },
    });
    expect(Array.from(cached.data)).toEqual(Array.from(expected.data));
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
