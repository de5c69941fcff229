import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { cv2Resize } from "./cv2-resize";
import { ImageError } from "./image-error";
import type { PixelSource } from "./normalize";
import type { PilFilter } from "./pil-filters";
import { pilResize } from "./pil-resize";
import { pilResize16 } from "./pil-resize-16";
import { decodePngRegionWith, isPng, planPng, regionOf } from "./png-fast-path";
import {
  assertPositiveInteger,
  type CropBox,
  copyRows,
  type ResizeKernel,
  type ResizeOptions,
  shortSideCropGeometry,
} from "./resize-options";

/** Decoded pixels with what was learnt about the source file. */
export interface RawPixels extends PixelSource {
  /** `Uint8Array` for 8-bit sources, `Uint16Array` for 16-bit sources. */
  data: Uint8Array | Uint16Array;
  /** Channels in `data`: 1 for grayscale sources (or when 1 was asked), else 3. */
  channels: 1 | 3;
  /** Bits per sample kept from the source. */
  bitDepth: 8 | 16;
  /** Source width after EXIF orientation. */
  sourceWidth: number;
  /** Source height after EXIF orientation. */
  sourceHeight: number;
  /** Container format as sharp names it (`"png"`, `"jpeg"`, `"tiff"`, ...). */
  format: string;
}

/** Pixels already decoded (HWC, 8- or 16-bit), accepted by {@link readPixels} as a source. */
export interface RawImage {
  /** HWC samples: `Uint8Array` for 8-bit, `Uint16Array` for 16-bit. */
  data: Uint8Array | Uint16Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 1 (grayscale) or 3 (RGB). */
  channels: 1 | 3;
}

/** What {@link readPixels} does between decoding and returning pixels. */
export interface ReadPixelsOptions {
  /** Name used in error messages when the source is a buffer; default `"<buffer>"`. */
  name?: string;
  /**
   * Channels wanted: 3 (default) or 1. Grayscale sources always come back with 1 channel
   * (repeat it when normalizing); color sources come back with 3, or as luma with 1.
   */
  channels?: 1 | 3;
  /**
   * Region to keep before resizing, in oriented source pixels; a function receives the
   * oriented source size (used by RandomResizedCrop).
   */
  crop?: CropBox | ((width: number, height: number) => CropBox);
  /** Resize after the crop. Without it the (cropped) image keeps its size. */
  resize?: ResizeOptions;
  /** Mirror left–right after resizing. */
  flip?: boolean;
  /**
   * Decode plain PNGs (8/16-bit gray, gray + alpha, RGB, RGBA, not interlaced) without sharp's
   * decoder, only as far as the crop reaches; the pixels are the same. Default true.
   */
  fastPng?: boolean;
}

const sharpKernel: Partial<Record<ResizeKernel, keyof sharp.KernelEnum>> = {
  nearest: "nearest",
  linear: "linear",
  cubic: "cubic",
  lanczos3: "lanczos3",
};

const pillowFilter: Record<ResizeKernel, PilFilter> = {
  nearest: "nearest",
  box: "box",
  linear: "bilinear",
  hamming: "hamming",
  cubic: "bicubic",
  lanczos3: "lanczos",
};

const kernels = Object.keys(pillowFilter) as ResizeKernel[];

/**
 * Checks the kernel and backend of a resize and returns them with their defaults: a
 * `RangeError` names an unknown value or a kernel the backend has no exact counterpart for.
 */
function resizeMethod(resize: ResizeOptions): { kernel: ResizeKernel; backend: string } {
  const kernel = resize.kernel ?? "linear";
  const backend = resize.backend ?? "pillow";
  if (!kernels.includes(kernel)) {
    throw new RangeError(`resize.kernel must be one of ${kernels.join(", ")}, got ${kernel}`);
  }
  if (backend !== "pillow" && backend !== "cv2" && backend !== "sharp") {
    throw new RangeError(`resize.backend must be pillow, cv2 or sharp, got ${backend}`);
  }
  if (backend === "cv2" && kernel !== "nearest" && kernel !== "linear") {
    throw new RangeError(
      `resize.kernel ${kernel} has no exact cv2 counterpart here; the cv2 backend has nearest and linear`,
    );
  }
  if (backend === "sharp" && sharpKernel[kernel] === undefined) {
    throw new RangeError(`resize.kernel ${kernel} is not a sharp kernel; use backend pillow`);
  }
  return { kernel, backend };
}

/**
 * Decodes an image file or buffer with sharp (PNG, JPEG, TIFF, WebP, ...), or takes already
 * decoded {@link RawImage} pixels, and applies EXIF
 * orientation, an optional crop, resize and flip, keeping 16-bit precision. Alpha is dropped
 * (as cv2 and PIL `convert("RGB")` do) and palette images are expanded.
 * Plain PNGs (8/16-bit gray, gray + alpha, RGB, RGBA, not interlaced, no ICC profile or EXIF)
 * are inflated with node:zlib only down to the crop's bottom row and unfiltered in TypeScript
 * and WebAssembly. Every PNG reaches the resize as raw pixels, whichever decoder read it, so the
 * two give the same output bit for bit.
 * Resizes are Pillow's by default (backend `"pillow"`): for 8-bit pixels alpha is dropped and
 * color turned to luma (for one channel) as Pillow's `convert` does, then {@link pilResize}
 * with the kernel's filter, so the result equals torchvision's
 * `img.convert(mode).crop(box).resize(size, filter)` on a PIL image byte for byte; 16-bit pixels
 * go through {@link pilResize16} (Pillow's "I;16" resampler). Backend `"cv2"` uses
 * {@link cv2Resize} (OpenCV's `cv2.resize`) instead; backend `"sharp"` keeps libvips' resize.
 * Every failure is an {@link ImageError} naming the file.
 */
export async function readPixels(
  source: string | Uint8Array | RawImage,
  options: ReadPixelsOptions = {},
): Promise<RawPixels> {
  const name = typeof source === "string" ? source : (options.name ?? "<buffer>");
  let input: Uint8Array | Uint16Array;
  const raw = isRawImage(source) ? source : undefined;
  if (raw) {
    if (raw.data.length !== raw.width * raw.height * raw.channels) {
      throw new ImageError(
        name,
        `raw image holds ${raw.data.length} samples, expected ${raw.width}x${raw.height}x${raw.channels}`,
      );
    }
    input = raw.data;
  } else if (typeof source === "string") {
    try {
      input = await readFile(source);
    } catch (error) {
      throw new ImageError(name, `cannot read image (${(error as Error).message})`, {
        cause: error,
      });
    }
  } else {
    input = source as Uint8Array;
  }
  if (input.length === 0) throw new ImageError(name, "image file is empty");
  // The crop callback draws random numbers: call it once, whichever decoder ends up used.
  let box: CropBox | undefined;
  const cropFor = (width: number, height: number): CropBox | undefined => {
    if (box === undefined && options.crop) {
      box = typeof options.crop === "function" ? options.crop(width, height) : options.crop;
      assertCrop(box, width, height, name);
    }
    return box;
  };
  if (raw && raw.data instanceof Uint8Array && resizesLikePillow(options)) {
    const crop = cropFor(raw.width, raw.height) ?? {
      left: 0,
      top: 0,
      width: raw.width,
      height: raw.height,
    };
    return finishLikePillow(raw as PilSource, crop, options, {
      width: raw.width,
      height: raw.height,
      croppedWidth: crop.width,
      croppedHeight: crop.height,
      sixteenBit: false,
      gray: raw.channels === 1,
      format: "raw",
    });
  }
  if (!raw && options.fastPng !== false && input instanceof Uint8Array && isPng(input)) {
    const layout = planPng(input);
    if (!("declined" in layout)) {
      const { width, height } = layout;
      const decoded = await decodePngRegionWith(
        layout,
        cropFor(width, height) ?? { left: 0, top: 0, width, height },
        (pixels) => {
          const facts: SourceFacts = {
            width,
            height,
            croppedWidth: pixels.region.width,
            croppedHeight: pixels.region.height,
            sixteenBit: pixels.bitDepth === 16,
            gray: pixels.channels <= 2,
            format: "png",
          };
          // Synchronous: `pixels` may view scratch memory that the next decode reuses.
          if (pixels.data instanceof Uint8Array && resizesLikePillow(options)) {
            const done = finishLikePillow(pixels as PilSource, pixels.region, options, facts);
            return { done, region: undefined, facts };
          }
          return { done: undefined, region: regionOf(pixels), facts };
        },
      );
      if (!("declined" in decoded)) {
        const { done, region, facts } = decoded;
        if (done !== undefined) return done;
        const image = sharp(region.data, {
          raw: { width: region.width, height: region.height, channels: region.channels },
        });
        return finish(image, name, options, facts);
      }
      // Broken image data: sharp decodes it again and reports (or tolerates) the damage.
    }
  }
  const image = raw
    ? sharp(input, { raw: { width: raw.width, height: raw.height, channels: raw.channels } })
    : sharp(input, { autoOrient: true, failOn: "error" });
  let metadata: sharp.Metadata;
  try {
    metadata = await image.metadata();
  } catch (error) {
    throw new ImageError(name, `cannot decode image (${(error as Error).message})`, {
      cause: error,
    });
  }
  const width = metadata.autoOrient?.width ?? metadata.width;
  const height = metadata.autoOrient?.height ?? metadata.height;
  if (!width || !height) throw new ImageError(name, "image has no size");
  let pipeline = image;
  const crop = cropFor(width, height);
  if (
    crop &&
    (crop.left !== 0 || crop.top !== 0 || crop.width !== width || crop.height !== height)
  ) {
    pipeline = pipeline.extract(crop);
  }
  const facts: SourceFacts = {
    width,
    height,
    croppedWidth: crop?.width ?? width,
    croppedHeight: crop?.height ?? height,
    sixteenBit: metadata.depth === "ushort" || metadata.depth === "short",
    gray: !metadata.isPalette && (metadata.channels ?? 3) <= 2,
    format: metadata.format ?? "unknown",
  };
  if (!facts.sixteenBit && resizesLikePillow(options)) {
    let output: { data: Buffer; info: sharp.OutputInfo };
    try {
      output = await pipeline
        .removeAlpha()
        .toColourspace(facts.gray ? "b-w" : "srgb")
        .raw()
        .toBuffer({ resolveWithObject: true });
    } catch (error) {
      throw new ImageError(name, `cannot decode image (${(error as Error).message})`, {
        cause: error,
      });
    }
    const { data, info } = output;
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const { width: outWidth, height: outHeight } = info;
    return finishLikePillow(
      { data: pixels, width: outWidth, height: outHeight, channels: info.channels as 1 | 3 },
      { left: 0, top: 0, width: outWidth, height: outHeight },
      options,
      facts,
    );
  }
  if (metadata.format === "png") {
    // libvips resizes a cropped PNG slightly differently (±1 on a few rows) from the same
    // pixels given raw; decoding PNGs to raw first makes every PNG decoder agree exactly.
    pipeline = await decodeToRaw(pipeline, name, facts, metadata.hasAlpha === true);
  }
  return finish(pipeline, name, options, facts);
}

/** Decodes (and crops) with sharp to raw pixels, alpha and bit depth kept, as a new input. */
async function decodeToRaw(
  image: sharp.Sharp,
  name: string,
  facts: SourceFacts,
  alpha: boolean,
): Promise<sharp.Sharp> {
  // sharp writes 8-bit gray as one band, dropping alpha, which the resize needs (it
  // premultiplies): take gray + alpha out of the RGBA it writes instead.
  const grayAlpha = facts.gray && alpha && !facts.sixteenBit;
  const space =
    facts.gray && !grayAlpha
      ? facts.sixteenBit
        ? "grey16"
        : "b-w"
      : facts.sixteenBit
        ? "rgb16"
        : "srgb";
  let output: { data: Buffer; info: sharp.OutputInfo };
  try {
    output = await image
      .toColourspace(space)
      .raw(facts.sixteenBit ? { depth: "ushort" } : {})
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new ImageError(name, `cannot decode image (${(error as Error).message})`, {
      cause: error,
    });
  }
  const { data, info } = output;
  if (grayAlpha) {
    const pixels = new Uint8Array(info.width * info.height * 2);
    for (let from = 0, to = 0; to < pixels.length; from += 4, to += 2) {
      pixels[to] = data[from];
      pixels[to + 1] = data[from + 3];
    }
    return sharp(pixels, { raw: { width: info.width, height: info.height, channels: 2 } });
  }
  const aligned = data.byteOffset % 2 === 0 ? data : Buffer.from(data);
  const pixels = facts.sixteenBit
    ? new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2)
    : data;
  return sharp(pixels, {
    raw: { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4 },
  });
}

/** What is known about a source once it is decoded (or decodable) and cropped. */
/** 8-bit samples that {@link finishLikePillow} crops, converts and resizes. */
interface PilSource {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

interface SourceFacts {
  width: number;
  height: number;
  croppedWidth: number;
  croppedHeight: number;
  sixteenBit: boolean;
  gray: boolean;
  format: string;
}

/** Resizes, flips, drops alpha and converts the colour space, then reads the raw pixels. */
async function finish(
  image: sharp.Sharp,
  name: string,
  options: ReadPixelsOptions,
  facts: SourceFacts,
): Promise<RawPixels> {
  const { croppedWidth, croppedHeight, sixteenBit } = facts;
  const channels: 1 | 3 = facts.gray || options.channels === 1 ? 1 : 3;
  if (sixteenBit && resizesLikePillow(options)) {
    const pixels = await finish(image, name, { ...options, resize: undefined, flip: false }, facts);
    return resize16(pixels, options, name);
  }
  let pipeline = image;
  if (options.resize) {
    const resize = options.resize;
    assertPositiveInteger(resize.width, "resize.width");
    assertPositiveInteger(resize.height, "resize.height");
    const kernel = sharpKernel[resizeMethod(resize).kernel] as keyof sharp.KernelEnum;
    if ((resize.mode ?? "exact") === "exact") {
      pipeline = pipeline.resize(resize.width, resize.height, { fit: "fill", kernel });
    } else {
      const { scaledWidth, scaledHeight, left, top } = shortSideCropGeometry(
        resize,
        croppedWidth,
        croppedHeight,
      );
      pipeline = pipeline
        .resize(scaledWidth, scaledHeight, { fit: "fill", kernel })
        .extract({ left, top, width: resize.width, height: resize.height });
    }
  }
  if (options.flip) pipeline = pipeline.flop();
  pipeline = pipeline.removeAlpha();
  if (sixteenBit) {
    pipeline = pipeline.toColourspace(channels === 1 ? "grey16" : "rgb16").raw({ depth: "ushort" });
  } else {
    pipeline = pipeline.toColourspace(channels === 1 ? "b-w" : "srgb").raw();
  }
  let output: { data: Buffer; info: sharp.OutputInfo };
  try {
    output = await pipeline.toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new ImageError(name, `cannot decode image (${(error as Error).message})`, {
      cause: error,
    });
  }
  const { data, info } = output;
  if (info.channels !== channels) {
    throw new ImageError(name, `decoded ${info.channels} channels, expected ${channels}`);
  }
  let pixels: Uint8Array | Uint16Array;
  if (sixteenBit) {
    const aligned = data.byteOffset % 2 === 0 ? data : Buffer.from(data);
    pixels = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2);
  } else {
    pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  return {
    data: pixels,
    width: info.width,
    height: info.height,
    channels,
    maxValue: sixteenBit ? 65535 : 255,
    bitDepth: sixteenBit ? 16 : 8,
    sourceWidth: facts.width,
    sourceHeight: facts.height,
    format: facts.format,
  };
}

/** Whether the resize is done here (Pillow's or cv2's) rather than by sharp. */
function resizesLikePillow(options: ReadPixelsOptions): boolean {
  return options.resize !== undefined && resizeMethod(options.resize).backend !== "sharp";
}

/** Resizes 8-bit pixels with the backend and kernel `resize` names. */
function resize8(
  source: PilSource,
  width: number,
  height: number,
  region: CropBox,
  resize: ResizeOptions,
): Uint8Array {
  const { kernel, backend } = resizeMethod(resize);
  if (backend === "cv2") {
    return cv2Resize(source, width, height, region, kernel as "nearest" | "linear");
  }
  return pilResize(source, width, height, region, { filter: pillowFilter[kernel] });
}

/**
 * The 8-bit path of a `"cubic"` resize: Pillow's `convert("L")` or `convert("RGB")` (alpha
 * dropped, color to luma when one channel is asked), Pillow's bicubic resize, then the center
 * crop of `"short-side-crop"` or `"squash-crop"` and the flip, all on the cropped region's raw samples.
 */
function finishLikePillow(
  image: PilSource,
  crop: CropBox,
  options: ReadPixelsOptions,
  facts: SourceFacts,
): RawPixels {
  const resize = options.resize as ResizeOptions;
  assertPositiveInteger(resize.width, "resize.width");
  assertPositiveInteger(resize.height, "resize.height");
  const { croppedWidth, croppedHeight } = facts;
  const channels: 1 | 3 = facts.gray || options.channels === 1 ? 1 : 3;
  let source = image;
  let region = crop;
  if (image.channels !== channels) {
    // Pillow converts the whole image first; converting only the crop gives the same samples.
    const stride = image.width * image.channels;
    const cropped = copyRows(
      image.data,
      crop.top * stride + crop.left * image.channels,
      stride,
      crop.width * image.channels,
      crop.height,
    );
    const pixels = convertLikePillow(cropped, crop.width * crop.height, image.channels, channels);
    source = { data: pixels, width: crop.width, height: crop.height, channels };
    region = { left: 0, top: 0, width: crop.width, height: crop.height };
  }
  let output: Uint8Array;
  const width = resize.width;
  const height = resize.height;
  if ((resize.mode ?? "exact") === "exact") {
    output = resize8(source, width, height, region, resize);
  } else {
    const { scaledWidth, scaledHeight, left, top } = shortSideCropGeometry(
      resize,
      croppedWidth,
      croppedHeight,
    );
    const scaled = resize8(source, scaledWidth, scaledHeight, region, resize);
    output = copyRows(
      scaled,
      (top * scaledWidth + left) * channels,
      scaledWidth * channels,
      width * channels,
      height,
    );
  }
  if (options.flip) flipRows(output, width, height, channels);
  return {
    data: output,
    width,
    height,
    channels,
    maxValue: 255,
    bitDepth: 8,
    sourceWidth: facts.width,
    sourceHeight: facts.height,
    format: facts.format,
  };
}

/**
 * The 16-bit path of a resize done here: {@link pilResize16} on the decoded, cropped pixels (or
 * cv2's nearest pick), then the center crop of `"short-side-crop"` or `"squash-crop"` and the flip.
 */
function resize16(pixels: RawPixels, options: ReadPixelsOptions, name: string): RawPixels {
  const resize = options.resize as ResizeOptions;
  assertPositiveInteger(resize.width, "resize.width");
  assertPositiveInteger(resize.height, "resize.height");
  const { kernel, backend } = resizeMethod(resize);
  const { channels } = pixels;
  const source = {
    data: pixels.data as Uint16Array,
    width: pixels.width,
    height: pixels.height,
    channels,
  };
  const scale = (width: number, height: number): Uint16Array => {
    if (backend === "cv2") {
      if (kernel !== "nearest") {
        throw new ImageError(
          name,
          `the cv2 backend resizes 16-bit images with kernel nearest only (mmcv reads 16-bit files as 8-bit); got ${kernel}`,
        );
      }
      return cv2Nearest16(source, width, height);
    }
    return pilResize16(source, width, height, undefined, pillowFilter[kernel]);
  };
  const width = resize.width;
  const height = resize.height;
  let output: Uint16Array;
  if ((resize.mode ?? "exact") === "exact") {
    output = scale(width, height);
  } else {
    const geometry = shortSideCropGeometry(resize, pixels.width, pixels.height);
    const scaled = scale(geometry.scaledWidth, geometry.scaledHeight);
    output = new Uint16Array(width * height * channels);
    for (let y = 0; y < height; y += 1) {
      const from = ((geometry.top + y) * geometry.scaledWidth + geometry.left) * channels;
      output.set(scaled.subarray(from, from + width * channels), y * width * channels);
    }
  }
  if (options.flip) flipRows(output, width, height, channels);
  return { ...pixels, data: output, width, height };
}

/** cv2's INTER_NEAREST pick for 16-bit samples (see {@link cv2Resize}). */
function cv2Nearest16(
  source: { data: Uint16Array; width: number; height: number; channels: number },
  width: number,
  height: number,
): Uint16Array {
  const { data, channels } = source;
  const output = new Uint16Array(width * height * channels);
  const scaleX = 1 / (width / source.width);
  const scaleY = 1 / (height / source.height);
  for (let y = 0, to = 0; y < height; y += 1) {
    const row = Math.min(Math.floor(y * scaleY), source.height - 1) * source.width;
    for (let x = 0; x < width; x += 1) {
      const from = (row + Math.min(Math.floor(x * scaleX), source.width - 1)) * channels;
      for (let channel = 0; channel < channels; channel += 1) output[to++] = data[from + channel];
    }
  }
  return output;
}

/**
 * Pillow's conversion to the mode the resize reads: alpha dropped (`convert("L")` of LA,
 * `convert("RGB")` of RGBA), color to luma with Pillow's integer weights when one channel is
 * wanted (`L = (19595 R + 38470 G + 7471 B + 2^15) >> 16`). Returns `data` itself when it
 * already has the wanted layout.
 */
function convertLikePillow(
  data: Uint8Array,
  pixelCount: number,
  from: 1 | 2 | 3 | 4,
  to: 1 | 3,
): Uint8Array {
  if (from === to) return data;
  const output = new Uint8Array(pixelCount * to);
  if (from <= 2) {
    for (let pixel = 0; pixel < pixelCount; pixel += 1) output[pixel] = data[pixel * from];
  } else if (to === 1) {
    for (let pixel = 0, at = 0; pixel < pixelCount; pixel += 1, at += from) {
      output[pixel] =
        (data[at] * 19595 + data[at + 1] * 38470 + data[at + 2] * 7471 + 0x8000) >> 16;
    }
  } else {
    for (let pixel = 0, at = 0, to3 = 0; pixel < pixelCount; pixel += 1, at += from, to3 += 3) {
      output[to3] = data[at];
      output[to3 + 1] = data[at + 1];
      output[to3 + 2] = data[at + 2];
    }
  }
  return output;
}

/** Mirrors each row of HWC samples left to right, in place. */
function flipRows(
  data: Uint8Array | Uint16Array,
  width: number,
  height: number,
  channels: number,
): void {
  for (let y = 0; y < height; y += 1) {
    let left = y * width * channels;
    let right = left + (width - 1) * channels;
    for (; left < right; left += channels, right -= channels) {
      for (let channel = 0; channel < channels; channel += 1) {
        const swap = data[left + channel];
        data[left + channel] = data[right + channel];
        data[right + channel] = swap;
      }
    }
  }
}

function isRawImage(source: string | Uint8Array | RawImage): source is RawImage {
  return typeof source === "object" && !ArrayBuffer.isView(source) && "width" in source;
}

function assertCrop(box: CropBox, width: number, height: number, name: string): void {
  const valid =
    Number.isInteger(box.left) &&
    Number.isInteger(box.top) &&
    Number.isInteger(box.width) &&
    Number.isInteger(box.height) &&
    box.left >= 0 &&
    box.top >= 0 &&
    box.width > 0 &&
    box.height > 0 &&
    box.left + box.width <= width &&
    box.top + box.height <= height;
  if (!valid) {
    throw new ImageError(
      name,
      `crop ${JSON.stringify(box)} does not fit inside the ${width}x${height} image`,
    );
  }
}
