/**
 * How an image is brought to the model's size:
 * - `"exact"`: stretched to `width × height` without keeping the aspect ratio (mmcls `Resize`).
 * - `"short-side-crop"`: short side scaled to `shortSide` (default: the larger of width and
 *   height), then a centered `width × height` crop (mmcls `ResizeEdge` + `CenterCrop`).
 */
export type ResizeMode = "exact" | "short-side-crop";

/**
 * Interpolation kernels. `"cubic"` on 8-bit images is Pillow's BICUBIC exactly (see
 * `pilResize`: torchvision's bicubic on PIL images, byte for byte); on 16-bit images it is
 * sharp's Catmull-Rom. The others are sharp's.
 */
export type ResizeKernel = "nearest" | "linear" | "cubic" | "lanczos3";

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
