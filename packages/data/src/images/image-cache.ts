import { createHash, randomUUID } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ImageError } from "./image-error";
import { type RawImage, readPixels } from "./read-pixels";
import { assertPositiveInteger } from "./resize-options";

/** Options of {@link createImageCache}. */
export interface ImageCacheOptions {
  /** Directory of the cache files (created if needed). */
  dir: string;
  /** Short side the cached copy is reduced to (never enlarged). */
  shortSide: number;
  /** Channels kept: 1, or 3 for color sources (grayscale sources always keep 1). */
  channels: 1 | 3;
}

/** Decoded, downscaled copies of images kept on disk as raw pixels. */
export interface ImageCache {
  /**
   * The cached copy of `path`: read from the cache when its key (path, size, modification time,
   * short side, channels) matches, else decoded, downscaled and written first.
   */
  get(path: string): Promise<RawImage & { bitDepth: 8 | 16 }>;
}

const magic = 0x3143464d; // "MFC1" little-endian
/**
 * Revision of the cached pixels, part of every key: 2 since the downscale is Pillow's LANCZOS
 * (it was sharp's lanczos3), so entries written before are not read back as if equal.
 */
const pixelsRevision = 2;
const headerBytes = 16;

/**
 * Creates an on-disk cache of images decoded once and reduced to a short side, so later epochs
 * skip PNG/JPEG decoding of full-size files. Entries are raw HWC pixels behind a 16-byte header
 * (magic, width, height, channels, bit depth), written to a temporary name and renamed, so a
 * crash never leaves a half-written entry under a valid name.
 */
export function createImageCache(options: ImageCacheOptions): ImageCache {
  assertPositiveInteger(options.shortSide, "cache shortSide");
  let ready: Promise<unknown> | undefined;
  return {
    async get(path) {
      ready ??= mkdir(options.dir, { recursive: true });
      await ready;
      let info: { size: number; mtimeMs: number };
      try {
        info = await stat(path);
      } catch (error) {
        throw new ImageError(path, `cannot read image (${(error as Error).message})`, {
          cause: error,
        });
      }
      const key = createHash("sha256")
        .update(
          JSON.stringify([
            path,
            info.size,
            info.mtimeMs,
            options.shortSide,
            options.channels,
            pixelsRevision,
          ]),
        )
        .digest("hex")
        .slice(0, 32);
      const file = join(options.dir, `${key}.raw`);
      const cached = await readFile(file).catch(() => undefined);
      if (cached && cached.length >= headerBytes && cached.readUInt32LE(0) === magic) {
        const width = cached.readUInt32LE(4);
        const height = cached.readUInt32LE(8);
        const channels = cached[12] as 1 | 3;
        const bitDepth = cached[13] as 8 | 16;
        const bytes = width * height * channels * (bitDepth / 8);
        if (cached.length === headerBytes + bytes) {
          const body = cached.subarray(headerBytes);
          const data =
            bitDepth === 16
              ? new Uint16Array(body.buffer.slice(body.byteOffset, body.byteOffset + bytes))
              : new Uint8Array(body.buffer, body.byteOffset, bytes);
          return { data, width, height, channels, bitDepth };
        }
      }
      const pixels = await readPixels(path, {
        channels: options.channels,
        resize: undefined,
        crop: undefined,
      }).then(async (full) => {
        const scale = Math.min(1, options.shortSide / Math.min(full.width, full.height));
        if (scale === 1) return full;
        return readPixels(
          { data: full.data, width: full.width, height: full.height, channels: full.channels },
          {
            name: path,
            channels: options.channels,
            resize: {
              width: Math.max(1, Math.round(full.width * scale)),
              height: Math.max(1, Math.round(full.height * scale)),
              kernel: "lanczos3",
            },
          },
        ).then((small) => ({ ...small, bitDepth: full.bitDepth }));
      });
      const header = Buffer.alloc(headerBytes);
      header.writeUInt32LE(magic, 0);
      header.writeUInt32LE(pixels.width, 4);
      header.writeUInt32LE(pixels.height, 8);
      header[12] = pixels.channels;
      header[13] = pixels.bitDepth;
      const body = Buffer.from(pixels.data.buffer, pixels.data.byteOffset, pixels.data.byteLength);
      const temporary = `${file}.${randomUUID()}.tmp`;
      await writeFile(temporary, Buffer.concat([header, body]));
      await rename(temporary, file);
      return {
        data: pixels.data,
        width: pixels.width,
        height: pixels.height,
        channels: pixels.channels,
        bitDepth: pixels.bitDepth,
      };
    },
  };
}
