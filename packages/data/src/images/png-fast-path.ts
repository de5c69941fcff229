import * as zlib from "node:zlib";
import {
  type ChainedFilter,
  ensureUnfilterMemory,
  MAX_WAVEFRONT_ROWS,
  unfilterWasm,
} from "./png-unfilter-wasm";
import { type CropBox, copyRows } from "./resize-options";

/** The layout of a PNG that {@link decodePngRegion} can decode itself. */
export interface PngLayout {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Bits per sample: 8 or 16. */
  bitDepth: 8 | 16;
  /** Samples per pixel: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  /** The IDAT chunks' data, in file order. */
  idat: Uint8Array[];
}

/** Why {@link planPng} or {@link decodePngRegion} left a file to sharp. */
export interface PngDecline {
  /** One sentence naming what the fast path does not handle, or what is broken. */
  declined: string;
}

/** Pixels of a rectangle of a PNG, HWC, as sharp's raw input takes them. */
export interface PngRegion {
  /** HWC samples: `Uint8Array` for 8-bit files, `Uint16Array` (native order) for 16-bit. */
  data: Uint8Array | Uint16Array;
  /** Width of the rectangle. */
  width: number;
  /** Height of the rectangle. */
  height: number;
  /** Samples per pixel, alpha kept: 1, 2, 3 or 4. */
  channels: 1 | 2 | 3 | 4;
  /** Bits per sample of the file. */
  bitDepth: 8 | 16;
}

const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

// Ancillary chunks that cannot change the pixels sharp (libvips + spng) decodes: text, time,
// physical size, and color hints libvips does not apply. Anything else (iCCP, eXIf, tRNS,
// PLTE, unknown chunks) goes to sharp, which knows what to do with it.
const harmlessChunks = new Set([
  "tIME",
  "pHYs",
  "tEXt",
  "zTXt",
  "iTXt",
  "gAMA",
  "cHRM",
  "sRGB",
  "bKGD",
  "sBIT",
]);

const channelsOfColorType: Record<number, 1 | 2 | 3 | 4 | undefined> = {
  0: 1,
  2: 3,
  4: 2,
  6: 4,
};

const crc32: ((data: Uint8Array) => number) | undefined = (
  zlib as { crc32?: (data: Uint8Array) => number }
).crc32;

/** Whether `bytes` start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  if (bytes.length < signature.length) return false;
  for (let i = 0; i < signature.length; i += 1) if (bytes[i] !== signature[i]) return false;
  return true;
}

/**
 * Reads the chunk structure of a PNG and says whether the fast path can decode it: a
 * non-interlaced 8- or 16-bit gray, gray + alpha, RGB or RGBA image whose other chunks cannot
 * change its pixels, with every chunk complete and its CRC right (where `zlib.crc32` exists).
 * Returns the layout, or why the file is left to sharp.
 */
export function planPng(bytes: Uint8Array): PngLayout | PngDecline {
  if (!isPng(bytes)) return { declined: "not a PNG" };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = signature.length;
  let layout: Omit<PngLayout, "idat"> | undefined;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (offset < bytes.length) {
    if (offset + 12 > bytes.length) {
      return { declined: `chunk at byte ${offset} is truncated` };
    }
    const length = view.getUint32(offset);
    const type = String.fromCharCode(
      bytes[offset + 4],
      bytes[offset + 5],
      bytes[offset + 6],
      bytes[offset + 7],
    );
    const dataStart = offset + 8;
    const dataEnd = dataStart + length;
    if (dataEnd + 4 > bytes.length) {
      return { declined: `${type} chunk at byte ${offset} is truncated` };
    }
    const data = bytes.subarray(dataStart, dataEnd);
    if (crc32 !== undefined) {
      const expected = view.getUint32(dataEnd);
      if (crc32(bytes.subarray(offset + 4, dataEnd)) !== expected) {
        return { declined: `${type} chunk at byte ${offset} has a wrong CRC` };
      }
    }
    if (offset === signature.length) {
      if (type !== "IHDR" || length !== 13) return { declined: "IHDR is not the first chunk" };
      const width = view.getUint32(dataStart);
      const height = view.getUint32(dataStart + 4);
      const bitDepth = data[8];
      const colorType = data[9];
      const channels = channelsOfColorType[colorType];
      if (channels === undefined) return { declined: `color type ${colorType}` };
      if (bitDepth !== 8 && bitDepth !== 16) return { declined: `bit depth ${bitDepth}` };
      if (data[10] !== 0 || data[11] !== 0) return { declined: "unknown compression or filter" };
      if (data[12] !== 0) return { declined: "interlaced" };
      if (width === 0 || height === 0) return { declined: "empty image" };
      layout = { width, height, bitDepth, channels };
    } else if (type === "IDAT") {
      idat.push(data);
    } else if (type === "IEND") {
      ended = true;
      break;
    } else if (!harmlessChunks.has(type) || hasRawProfile(type, data)) {
      return { declined: `${type} chunk` };
    }
    offset = dataEnd + 4;
  }
  if (layout === undefined) return { declined: "no IHDR chunk" };
  if (!ended) return { declined: "no IEND chunk (truncated file)" };
  if (idat.length === 0) return { declined: "no IDAT chunk" };
  return { ...layout, idat };
}

// ImageMagick stores EXIF, ICC and XMP profiles in text chunks named "Raw profile type ...";
// leave those files to sharp rather than guess whether an orientation hides there.
function hasRawProfile(type: string, data: Uint8Array): boolean {
  if (type !== "tEXt" && type !== "zTXt" && type !== "iTXt") return false;
  const keyword = "Raw profile type";
  if (data.length < keyword.length) return false;
  for (let i = 0; i < keyword.length; i += 1) {
    if (data[i] !== keyword.charCodeAt(i)) return false;
  }
  return true;
}

/** Inflated rows the fast path holds at once at most (256 MiB); larger crops go to sharp. */
const maxInflatedBytes = 256 * 1024 * 1024;

/** Rows unfiltered in WebAssembly at most (64 MiB, e.g. an 8192² 8-bit X-ray). */
const maxWasmBytes = 64 * 1024 * 1024;

/**
 * Decodes the rectangle `box` of a PNG planned by {@link planPng}: inflates the image data on
 * libuv's thread pool only down to the box's bottom row ({@link inflatePngRows}), reverses the
 * PNG row filters only up to its right edge and copies the box out ({@link unfilterPngRegion}).
 * The pixels equal those of the same rectangle of the whole decoded image. Returns why it gave
 * up when the compressed data is broken.
 */
export async function decodePngRegion(
  layout: PngLayout,
  box: CropBox,
): Promise<PngRegion | PngDecline> {
  return decodePngRegionWith(layout, box, regionOf);
}

/**
 * Pixels in rows of `width` pixels of which the rectangle `region` is the one asked for: the
 * box itself (`region` at 0, 0), or, for 8-bit one-channel files, the unfiltered rows where
 * they lie, each row's filter-type byte counted as its first pixel (no copy).
 */
export interface PngPixels extends PngRegion {
  /** Where the asked-for rectangle lies in `data`. */
  region: CropBox;
}

/**
 * {@link decodePngRegion}, handing the pixels to `consume` instead of copying the box out. For
 * 8-bit one-channel files `data` views scratch memory that the next decode overwrites: `consume`
 * runs synchronously right after the rows are unfiltered, and must copy what it keeps.
 */
export async function decodePngRegionWith<T>(
  layout: PngLayout,
  box: CropBox,
  consume: (pixels: PngPixels) => T,
): Promise<T | PngDecline> {
  const filtered = await inflatePngRows(layout, box.top + box.height);
  return "declined" in filtered ? filtered : unfilterPngRows(filtered, layout, box, consume);
}

/** The asked-for rectangle of `pixels` as a region of its own (copied out when it is a view). */
export function regionOf(pixels: PngPixels): PngRegion {
  const { data, width, channels, bitDepth, region } = pixels;
  if (region.left === 0 && region.top === 0 && region.width === width) {
    const samples = width * region.height * channels;
    return { data: data.subarray(0, samples), width, height: region.height, channels, bitDepth };
  }
  const rowSamples = width * channels;
  const view = data as Uint8Array;
  const copied = copyRows(
    view,
    region.top * rowSamples + region.left * channels,
    rowSamples,
    region.width * channels,
    region.height,
  );
  return { data: copied, width: region.width, height: region.height, channels, bitDepth };
}

/**
 * Inflates the first `rows` rows of a planned PNG, still filtered (a filter-type byte, then the
 * row's bytes). zlib fills one buffer of exactly that size in one thread-pool task and stops.
 */
export async function inflatePngRows(
  layout: PngLayout,
  rows: number,
): Promise<Uint8Array | PngDecline> {
  const stride = layout.width * layout.channels * (layout.bitDepth / 8) + 1;
  const needed = rows * stride;
  if (needed > maxInflatedBytes) {
    // sharp streams rows through a small window; holding this many rows at once is not worth it.
    return { declined: `${needed} bytes of rows exceed the fast path's ${maxInflatedBytes}` };
  }
  let filtered: Uint8Array | undefined;
  let received = 0;
  const error = await new Promise<string | undefined>((resolve) => {
    const inflater = zlib.createInflate({
      chunkSize: Math.max(needed, zlib.constants.Z_MIN_CHUNK),
    });
    let settled = false;
    const finish = (reason: string | undefined): void => {
      if (settled) return;
      settled = true;
      inflater.destroy();
      resolve(reason);
    };
    inflater.on("data", (chunk: Buffer) => {
      if (settled) return;
      if (filtered === undefined && chunk.length >= needed) {
        filtered = chunk.subarray(0, needed);
        received = needed;
      } else {
        filtered ??= new Uint8Array(needed);
        const take = Math.min(chunk.length, needed - received);
        filtered.set(chunk.subarray(0, take), received);
        received += take;
      }
      if (received === needed) finish(undefined);
    });
    inflater.on("error", (cause: Error) =>
      finish(`image data does not inflate (${cause.message})`),
    );
    inflater.on("end", () =>
      finish(
        received === needed
          ? undefined
          : `image data ends after ${Math.floor(received / stride)} of ${layout.height} rows`,
      ),
    );
    inflater.end(layout.idat.length === 1 ? layout.idat[0] : Buffer.concat(layout.idat));
  });
  if (error !== undefined || filtered === undefined) return { declined: error ?? "no image data" };
  return filtered;
}

/**
 * Reverses the row filters of `filtered` (rows from {@link inflatePngRows}, down to the box's
 * bottom at least) up to the box's right edge and copies the box out. Rows with one byte per
 * pixel are unfiltered in WebAssembly memory and leave `filtered` as it was; other layouts are
 * unfiltered in place.
 */
export function unfilterPngRegion(
  filtered: Uint8Array,
  layout: PngLayout,
  box: CropBox,
): PngRegion | PngDecline {
  return unfilterPngRows(filtered, layout, box, regionOf);
}

/** {@link unfilterPngRegion}, handing the pixels to `consume` (see {@link decodePngRegionWith}). */
function unfilterPngRows<T>(
  filtered: Uint8Array,
  layout: PngLayout,
  box: CropBox,
  consume: (pixels: PngPixels) => T,
): T | PngDecline {
  const bytesPerPixel = layout.channels * (layout.bitDepth / 8);
  const stride = layout.width * bytesPerPixel + 1;
  const rows = box.top + box.height;
  const needed = rows * stride;
  if (filtered.length < needed) {
    return { declined: `${filtered.length} bytes of rows, the box needs ${needed}` };
  }
  const usedBytes = (box.left + box.width) * bytesPerPixel;
  // The module's memory never shrinks: keep very large images out of it.
  const wasm = bytesPerPixel === 1 && needed <= maxWasmBytes ? unfilterWasm() : undefined;
  let rowsData = filtered;
  if (wasm) {
    // Synchronous from here to the copy out, so one scratch memory serves every decode.
    rowsData = ensureUnfilterMemory(wasm, needed);
    rowsData.set(filtered.subarray(0, needed));
  }
  // Up to MAX_WAVEFRONT_ROWS consecutive Average or Paeth rows go to WebAssembly together.
  const chained: ChainedFilter[] = [];
  for (let y = 0; y < rows; ) {
    const filter = rowsData[y * stride];
    if (wasm && y > 0 && (filter === 3 || filter === 4)) {
      chained.length = 0;
      for (let next = y; next < rows && chained.length < MAX_WAVEFRONT_ROWS; next += 1) {
        const nextFilter = rowsData[next * stride];
        if (nextFilter !== 3 && nextFilter !== 4) break;
        chained.push(nextFilter);
      }
      const rowStart = y * stride + 1;
      wasm.reverse(chained, rowStart, rowStart + usedBytes, stride);
      y += chained.length;
    } else if (unfilterRow(rowsData, y, stride, usedBytes, bytesPerPixel)) {
      y += 1;
    } else {
      return { declined: `row ${y} has filter type ${filter}` };
    }
  }
  if (bytesPerPixel === 1) {
    // Each row's filter byte is one more pixel on its left: the box starts one pixel further.
    return consume({
      data: rowsData.subarray(0, needed),
      width: stride,
      height: rows,
      channels: 1,
      bitDepth: 8,
      region: { left: box.left + 1, top: box.top, width: box.width, height: box.height },
    });
  }
  const region = copyRegion(rowsData, stride, layout, box);
  return consume({ ...region, region: { left: 0, top: 0, width: box.width, height: box.height } });
}

function copyRegion(
  pixels: Uint8Array,
  stride: number,
  layout: PngLayout,
  box: CropBox,
): PngRegion {
  const { channels, bitDepth } = layout;
  const bytesPerPixel = channels * (bitDepth / 8);
  const regionRowBytes = box.width * bytesPerPixel;
  const startByte = 1 + box.left * bytesPerPixel;
  if (bitDepth === 8) {
    const data = copyRows(pixels, box.top * stride + startByte, stride, regionRowBytes, box.height);
    return { data, width: box.width, height: box.height, channels, bitDepth };
  }
  const samplesPerRow = box.width * channels;
  const data = new Uint16Array(box.height * samplesPerRow);
  for (let y = 0; y < box.height; y += 1) {
    let from = (box.top + y) * stride + startByte;
    let to = y * samplesPerRow;
    const end = to + samplesPerRow;
    while (to < end) {
      data[to] = (pixels[from] << 8) | pixels[from + 1];
      to += 1;
      from += 2;
    }
  }
  return { data, width: box.width, height: box.height, channels, bitDepth };
}

/**
 * Reverses the filter of row `y` in place over its first `usedBytes` bytes; bytes further right
 * are never needed for them (every predictor looks left or up). Returns false for an unknown
 * filter type.
 */
function unfilterRow(
  data: Uint8Array,
  y: number,
  stride: number,
  usedBytes: number,
  bpp: number,
): boolean {
  const start = y * stride + 1;
  const filter = data[start - 1];
  const end = start + usedBytes;
  const up = start - stride;
  switch (filter) {
    case 0:
      return true;
    case 1:
      for (let i = start + bpp; i < end; i += 1) data[i] += data[i - bpp];
      return true;
    case 2:
      if (y === 0) return true;
      for (let i = start; i < end; i += 1) data[i] += data[i - stride];
      return true;
    case 3:
      if (y === 0) {
        for (let i = start + bpp; i < end; i += 1) data[i] += data[i - bpp] >> 1;
      } else {
        for (let i = start; i < start + bpp; i += 1) data[i] += data[i - stride] >> 1;
        if (bpp === 1) {
          let left = data[start];
          for (let i = start + 1; i < end; i += 1) {
            left = (data[i] + ((left + data[i - stride]) >> 1)) & 255;
            data[i] = left;
          }
        } else {
          for (let i = start + bpp; i < end; i += 1) {
            data[i] += (data[i - bpp] + data[i - stride]) >> 1;
          }
        }
      }
      return true;
    case 4:
      if (y === 0) {
        // No row above: the predictor is always the left byte, as the Sub filter.
        for (let i = start + bpp; i < end; i += 1) data[i] += data[i - bpp];
      } else if (bpp === 1) {
        paethOneByte(data, start, end, up);
      } else {
        for (let i = start; i < start + bpp; i += 1) data[i] += data[i - stride];
        for (let i = start + bpp; i < end; i += 1) {
          const left = data[i - bpp];
          const above = data[i - stride];
          const corner = data[i - stride - bpp];
          data[i] += paeth(left, above, corner);
        }
      }
      return true;
    default:
      return false;
  }
}

function paeth(left: number, above: number, corner: number): number {
  let distanceLeft = above - corner;
  let distanceAbove = left - corner;
  let distanceCorner = distanceLeft + distanceAbove;
  if (distanceLeft < 0) distanceLeft = -distanceLeft;
  if (distanceAbove < 0) distanceAbove = -distanceAbove;
  if (distanceCorner < 0) distanceCorner = -distanceCorner;
  if (distanceLeft <= distanceAbove && distanceLeft <= distanceCorner) return left;
  return distanceAbove <= distanceCorner ? above : corner;
}

// The hot loop for 8-bit grayscale X-rays: left and corner stay in registers, and the choice
// among the three predictors is made with masks, since it is unpredictable for a branch.
function paethOneByte(data: Uint8Array, start: number, end: number, up: number): void {
  let corner = data[up];
  let left = (data[start] + corner) & 255;
  data[start] = left;
  for (let i = start + 1, j = up + 1; i < end; i += 1, j += 1) {
    const above = data[j];
    let distanceLeft = above - corner;
    let distanceAbove = left - corner;
    let distanceCorner = distanceLeft + distanceAbove;
    distanceLeft = (distanceLeft ^ (distanceLeft >> 31)) - (distanceLeft >> 31);
    distanceAbove = (distanceAbove ^ (distanceAbove >> 31)) - (distanceAbove >> 31);
    distanceCorner = (distanceCorner ^ (distanceCorner >> 31)) - (distanceCorner >> 31);
    // -1 where the corner is nearer than the byte above, else 0.
    const cornerMask = (distanceCorner - distanceAbove) >> 31;
    const aboveOrCorner = (above & ~cornerMask) | (corner & cornerMask);
    // -1 where the left byte loses to either other predictor, else 0.
    const notLeft =
      ((distanceAbove - distanceLeft) >> 31) | ((distanceCorner - distanceLeft) >> 31);
    left = (data[i] + ((left & ~notLeft) | (aboveOrCorner & notLeft))) & 255;
    data[i] = left;
    corner = above;
  }
}
