/**
 * How an image is brought to the model's size:
 * - `"exact"`: stretched to `width × height` without keeping the aspect ratio (mmcls `Resize`).
 * - `"short-side-crop"`: short side scaled to `shortSide` (default: the larger of width and
 *   height), then a centered `width × height` crop (mmcls `ResizeEdge` + `CenterCrop`).
 */
export type ResizeMode = "exact" | "short-side-crop";

/**
 * Interpolation kernels, each mapped to one exact implementation by the backend:
 * - backend `"pillow"` (default): Pillow's `Image.resize` filters, antialiased when shrinking,
 *   as torchvision's `Resize` / `RandomResizedCrop` use them on PIL images: `"nearest"` NEAREST,
 *   `"box"` BOX, `"linear"` BILINEAR, `"hamming"` HAMMING, `"cubic"` BICUBIC, `"lanczos3"`
 *   LANCZOS. Equal to Pillow byte for byte on 8-bit images and sample for sample on 16-bit
 *   grayscale ("I;16") ones as Pillow 10–12.1 resize them (see `pilResize` and `pilResize16`;
 *   Pillow 13 differs at 16 bits and in the pass order of mixed up/down resizes, as the package
 *   README details).
 * - backend `"cv2"`: OpenCV's `cv2.resize`, not antialiased, as mmcv's `imresize` (mmpretrain's
 *   default `Resize` backend) calls it: `"nearest"` INTER_NEAREST, `"linear"` INTER_LINEAR.
 *   The other kernels are refused. See `cv2Resize`.
 * - backend `"sharp"`: libvips' resize with the kernel of that name (`"box"` and `"hamming"`
 *   refused); the behaviour before Pillow-exact kernels, matching neither reference.
 */
export type ResizeKernel = "nearest" | "box" | "linear" | "hamming" | "cubic" | "lanczos3";

/** Which library's resize the pixels reproduce; see {@link ResizeKernel}. */
export type ResizeBackend = "pillow" | "cv2" | "sharp";

/** Target size and mode of a resize. */
export interface ResizeOptions {
  /** Output width in pixels. */
  width: number;
  /** Output height in pixels. */
  height: number;
  /** Resize mode; default `"exact"`. */
  mode?: ResizeMode;
  /** Short side before the center crop, for `"short-side-crop"`; default `max(width, height)`. */
  shortSide?: number;
  /** Interpolation; default `"linear"` (mmcls `Resize` is bilinear). */
  kernel?: ResizeKernel;
  /**
   * Whose resize to reproduce: `"pillow"` (default; torchvision on PIL images, antialiased),
   * `"cv2"` (mmcv / mmpretrain's default `Resize`, not antialiased) or `"sharp"` (libvips).
   */
  backend?: ResizeBackend;
}

/** A rectangle in source pixels (after EXIF orientation). */
export interface CropBox {
  /** Left edge, in pixels. */
  left: number;
  /** Top edge, in pixels. */
  top: number;
  /** Width in pixels, at least 1. */
  width: number;
  /** Height in pixels, at least 1. */
  height: number;
}

/** Throws a `RangeError` naming `what` unless `value` is a positive integer. */
export function assertPositiveInteger(value: number, what: string): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${what} must be a positive integer, got ${value}`);
  }
}

/**
 * The geometry of a `"short-side-crop"` resize of a `width × height` image: the size the short
 * side scaling gives (rounded, never below the output) and the top-left corner of the centered
 * output crop (floored), as mmcls `ResizeEdge` + `CenterCrop` place it.
 */
export function shortSideCropGeometry(
  resize: ResizeOptions,
  width: number,
  height: number,
): { scaledWidth: number; scaledHeight: number; left: number; top: number } {
  const shortSide = resize.shortSide ?? Math.max(resize.width, resize.height);
  const scale = shortSide / Math.min(width, height);
  const scaledWidth = Math.max(resize.width, Math.round(width * scale));
  const scaledHeight = Math.max(resize.height, Math.round(height * scale));
  return {
    scaledWidth,
    scaledHeight,
    left: Math.floor((scaledWidth - resize.width) / 2),
    top: Math.floor((scaledHeight - resize.height) / 2),
  };
}

/**
 * Packs `rows` runs of `rowBytes` bytes into one array: the first run starts at byte `start` of
 * `data`, each next one `stride` bytes further (a rectangle out of an image's rows).
 */
export function copyRows(
  data: Uint8Array,
  start: number,
  stride: number,
  rowBytes: number,
  rows: number,
): Uint8Array {
  const output = new Uint8Array(rows * rowBytes);
  for (let row = 0; row < rows; row += 1) {
    const from = start + row * stride;
    output.set(data.subarray(from, from + rowBytes), row * rowBytes);
  }
  return output;
}
