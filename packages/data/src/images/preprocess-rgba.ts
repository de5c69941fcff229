// The evaluation preprocessing of the loader (resize, then normalisation) for pixels a browser
// decoded: RGBA bytes from a canvas, an `ImageData` or an `ImageBitmap` drawn onto one. It
// uses the same resamplers (pilResize, cv2Resize) and normalizeInto as readPixels and the
// loader, with no sharp and no Node module, so a model sees the same floats in a browser as in
// Node for the same decoded pixels.

import { cv2Resize } from "./cv2-resize";
import { normalizeInto } from "./normalize";
import type { PilFilter } from "./pil-filters";
import { pilResize } from "./pil-resize";
import {
  assertPositiveInteger,
  type CropBox,
  copyRows,
  inputDimensions,
  type ResizeKernel,
  type ResizeOptions,
  shortSideCropGeometry,
} from "./resize-options";

/** RGBA pixels as a canvas gives them (`ImageData` fits): 4 bytes per pixel, row after row. */
export interface RgbaImage {
  /** `width × height × 4` bytes (a `Uint8ClampedArray` from a canvas is accepted). */
  data: Uint8Array | Uint8ClampedArray;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** Options of {@link preprocessRgba}: those the loader and `medfm train` use. */
export interface PreprocessRgbaOptions {
  /** Model input size: one number for square inputs, or `[height, width]`. */
  imageSize: number | readonly [number, number];
  /** How to resize (default `{ mode: "exact" }`, Pillow bilinear, as the loader's evaluation). */
  resize?: Omit<ResizeOptions, "width" | "height">;
  /** Channels fed to the model (default 3). */
  channels?: 1 | 3;
  /** Channel means on the 0–255 scale (default ImageNet's). */
  mean?: readonly number[];
  /** Channel standard deviations on the 0–255 scale (default ImageNet's). */
  std?: readonly number[];
}

const pillowFilter: Record<ResizeKernel, PilFilter> = {
  nearest: "nearest",
  box: "box",
  linear: "bilinear",
  hamming: "hamming",
  cubic: "bicubic",
  lanczos3: "lanczos",
};

/**
 * Drops alpha as Pillow's `convert("RGB")` does, or takes Pillow's integer luma
 * (`convert("L")`) when one channel is wanted. Gray images decoded by a browser have equal R, G
 * and B, and Pillow resamples channels independently, so resizing the three copies gives the
 * gray samples readPixels resizes, three times.
 */
function rgbaTo(image: RgbaImage, channels: 1 | 3): Uint8Array {
  const pixels = image.width * image.height;
  const { data } = image;
  const output = new Uint8Array(pixels * channels);
  if (channels === 1) {
    for (let pixel = 0, at = 0; pixel < pixels; pixel += 1, at += 4) {
      output[pixel] =
        (data[at] * 19595 + data[at + 1] * 38470 + data[at + 2] * 7471 + 0x8000) >> 16;
    }
    return output;
  }
  for (let pixel = 0, at = 0, to = 0; pixel < pixels; pixel += 1, at += 4, to += 3) {
    output[to] = data[at];
    output[to + 1] = data[at + 1];
    output[to + 2] = data[at + 2];
  }
  return output;
}

/**
 * Turns RGBA pixels into one normalised NHWC model input (`height × width × channels` floats):
 * alpha dropped, resized with the backend and kernel of `resize` (Pillow bilinear by default,
 * byte for byte as readPixels does), then `(value − mean) / std` by {@link normalizeInto}.
 * The sharp backend is refused: it needs libvips, which a browser does not have.
 */
export function preprocessRgba(image: RgbaImage, options: PreprocessRgbaOptions): Float32Array {
  const [height, width] = inputDimensions(options.imageSize);
  assertPositiveInteger(image.width, "image width");
  assertPositiveInteger(image.height, "image height");
  if (image.data.length !== image.width * image.height * 4) {
    throw new RangeError(
      `preprocessRgba: image data holds ${image.data.length} bytes, expected ${image.width}x${image.height}x4`,
    );
  }
  const channels = options.channels ?? 3;
  const resize: ResizeOptions = { mode: "exact", ...options.resize, width, height };
  const kernel = resize.kernel ?? "linear";
  const backend = resize.backend ?? "pillow";
  if (pillowFilter[kernel] === undefined) {
    throw new RangeError(`preprocessRgba: unknown resize kernel ${JSON.stringify(kernel)}`);
  }
  if (backend !== "pillow" && backend !== "cv2") {
    throw new RangeError(
      `preprocessRgba: resize backend ${JSON.stringify(backend)} is not available here (pillow and cv2 are)`,
    );
  }
  if (backend === "cv2" && kernel !== "nearest" && kernel !== "linear") {
    throw new RangeError(`preprocessRgba: the cv2 backend has nearest and linear, got ${kernel}`);
  }
  const source = {
    data: rgbaTo(image, channels),
    width: image.width,
    height: image.height,
    channels,
  };
  const whole: CropBox = { left: 0, top: 0, width: image.width, height: image.height };
  const scale = (outWidth: number, outHeight: number): Uint8Array =>
    backend === "cv2"
      ? cv2Resize(source, outWidth, outHeight, whole, kernel as "nearest" | "linear")
      : pilResize(source, outWidth, outHeight, whole, { filter: pillowFilter[kernel] });
  let pixels: Uint8Array;
  if ((resize.mode ?? "exact") !== "exact") {
    const geometry = shortSideCropGeometry(resize, image.width, image.height);
    const scaled = scale(geometry.scaledWidth, geometry.scaledHeight);
    pixels = copyRows(
      scaled,
      (geometry.top * geometry.scaledWidth + geometry.left) * channels,
      geometry.scaledWidth * channels,
      width * channels,
      height,
    );
  } else {
    pixels = scale(width, height);
  }
  const output = new Float32Array(width * height * channels);
  normalizeInto(
    output,
    0,
    { data: pixels, width, height, channels, maxValue: 255 },
    {
      channels,
      ...(options.mean ? { mean: options.mean } : {}),
      ...(options.std ? { std: options.std } : {}),
    },
  );
  return output;
}
