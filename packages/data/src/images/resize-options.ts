/**
 * How an image is brought to the model's size:
 * - `"exact"`: stretched to `width × height` without keeping the aspect ratio (mmcls `Resize`).
 * - `"short-side-crop"`: short side scaled to `shortSide` (default: the larger of width and
 *   height), then a centered `width × height` crop (mmcls `ResizeEdge` + `CenterCrop`, or
 *   torchvision's `Resize(shortSide)` + `CenterCrop` as timm's evaluation transform applies them;
 *   see {@link CropConvention}).
 * - `"squash-crop"`: stretched without keeping the aspect ratio so that the output's shorter
 *   side becomes `shortSide` (a square output: both sides `shortSide`; the other side of a
 *   non-square one `floor(shortSide × longer / shorter)` of the output's sides), then the
 *   centered `width × height` crop: timm's `crop_mode="squash"` (`Resize((S, S))` +
 *   `CenterCrop`) and transformers' processors with `size: {height, width}` followed by a
 *   `crop_size` centre crop (DeiT's).
 */
export type ResizeMode = "exact" | "short-side-crop" | "squash-crop";

/**
 * Whose arithmetic places a `"short-side-crop"` or `"squash-crop"`; they differ by a pixel on
 * some sizes:
 * - `"mmcls"` (default): the long side rounded to the nearest pixel, the crop's corner floored.
 * - `"torchvision"`: the long side truncated (`int(shortSide * long / short)`) and the corner
 *   rounded half to even (`int(round((scaled - out) / 2))`), as torchvision's `Resize` with one
 *   size and `CenterCrop` compute them, and so timm's `create_transform` for evaluation
 *   (`Resize(floor(inputSize / crop_pct))` then `CenterCrop(inputSize)`).
 * - `"transformers"`: the long side truncated as torchvision does and the corner floored
 *   (`(scaled - out) // 2`), as transformers' `get_resize_output_image_size` and `center_crop`
 *   compute them (`shortest_edge` resizes of CLIP, DINOv2 and RAD-DINO processors).
 */
export type CropConvention = "mmcls" | "torchvision" | "transformers";

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
  /**
   * Short side before the center crop, for `"short-side-crop"` and `"squash-crop"`; default
   * `max(width, height)`.
   */
  shortSide?: number;
  /** Whose rounding places a `"short-side-crop"` or `"squash-crop"`; default `"mmcls"`. */
  convention?: CropConvention;
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
 * `[height, width]` of a model input size given as one number (square) or `[height, width]`,
 * each checked to be a positive integer (the error names `what`).
 */
export function inputDimensions(
  imageSize: number | readonly [number, number],
  what = "imageSize",
): [height: number, width: number] {
  const [height, width] = typeof imageSize === "number" ? [imageSize, imageSize] : imageSize;
  assertPositiveInteger(height, `${what} height`);
  assertPositiveInteger(width, `${what} width`);
  return [height, width];
}

/** Python 3's `round`: to the nearest integer, halves to the even one. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The geometry of a `"short-side-crop"` or `"squash-crop"` resize of a `width × height` image:
 * the size the scaling gives (never below the output) and the top-left corner of the centered
 * output crop, rounded as `resize.convention` says (mmcls `ResizeEdge` + `CenterCrop` by
 * default: sides rounded, corner floored; torchvision `Resize` + `CenterCrop`: the long side
 * truncated, the corner rounded half to even; transformers: truncated, floored).
 * @throws RangeError when the scaled image is smaller than the crop (the references would pad).
 */
export function shortSideCropGeometry(
  resize: ResizeOptions,
  width: number,
  height: number,
): { scaledWidth: number; scaledHeight: number; left: number; top: number } {
  const shortSide = resize.shortSide ?? Math.max(resize.width, resize.height);
  const convention = resize.convention ?? "mmcls";
  let scaledWidth: number;
  let scaledHeight: number;
  if (resize.mode === "squash-crop") {
    // The output's shape at the scale that brings its shorter side to shortSide.
    const outShort = Math.min(resize.width, resize.height);
    const outLong = Math.max(resize.width, resize.height);
    const scaledLong = Math.floor((shortSide * outLong) / outShort);
    [scaledWidth, scaledHeight] =
      resize.width <= resize.height ? [shortSide, scaledLong] : [scaledLong, shortSide];
  } else if (convention === "mmcls") {
    const scale = shortSide / Math.min(width, height);
    scaledWidth = Math.max(resize.width, Math.round(width * scale));
    scaledHeight = Math.max(resize.height, Math.round(height * scale));
  } else {
    // torchvision's _compute_resized_output_size; transformers' get_resize_output_image_size.
    const short = Math.min(width, height);
    const long = Math.max(width, height);
    const scaledLong = Math.trunc((shortSide * long) / short);
    [scaledWidth, scaledHeight] =
      width <= height ? [shortSide, scaledLong] : [scaledLong, shortSide];
  }
  if (scaledWidth < resize.width || scaledHeight < resize.height) {
    throw new RangeError(
      `${resize.mode ?? "short-side-crop"}: a ${width}x${height} image scaled to ${scaledWidth}x${scaledHeight} is smaller than the ${resize.width}x${resize.height} crop (the references would pad; shortSide ${shortSide} must reach the crop)`,
    );
  }
  // torchvision's F.center_crop rounds half to even; mmcls and transformers floor.
  const corner = convention === "torchvision" ? roundHalfEven : Math.floor;
  return {
    scaledWidth,
    scaledHeight,
    left: corner((scaledWidth - resize.width) / 2),
    top: corner((scaledHeight - resize.height) / 2),
  };
}

/**
 * The part of a `width × height` source image that a resize keeps, in source pixels: all of it
 * for `"exact"`, else the centre crop of `"short-side-crop"` or `"squash-crop"` mapped back
 * through the scaling (rounded to whole pixels). Grad-CAM draws its heatmap over this region.
 */
export function resizedRegion(resize: ResizeOptions, width: number, height: number): CropBox {
  if ((resize.mode ?? "exact") === "exact") return { left: 0, top: 0, width, height };
  const geometry = shortSideCropGeometry(resize, width, height);
  const x = width / geometry.scaledWidth;
  const y = height / geometry.scaledHeight;
  const left = Math.round(geometry.left * x);
  const top = Math.round(geometry.top * y);
  return {
    left,
    top,
    width: Math.max(1, Math.min(width - left, Math.round(resize.width * x))),
    height: Math.max(1, Math.min(height - top, Math.round(resize.height * y))),
  };
}

/**
 * Packs `rows` runs of `rowLength` samples into one `Uint8Array` (`Uint16Array` for 16-bit
 * samples): the first run starts at sample `start` of `data`, each next one `stride` samples
 * further (a rectangle out of an image's rows).
 */
export function copyRows<T extends Uint8Array | Uint16Array>(
  data: T,
  start: number,
  stride: number,
  rowLength: number,
  rows: number,
): T {
  // A plain Uint8Array for any 8-bit input, a Node Buffer included, as before.
  const output = (
    data instanceof Uint16Array
      ? new Uint16Array(rows * rowLength)
      : new Uint8Array(rows * rowLength)
  ) as T;
  for (let row = 0; row < rows; row += 1) {
    const from = start + row * stride;
    output.set(data.subarray(from, from + rowLength), row * rowLength);
  }
  return output;
}

/**
 * Throws a `RangeError` naming `caller` unless the output size, the region and the channel count
 * are positive integers, the region lies inside the image, and `data` holds exactly
 * `width × height × channels` samples: the argument checks every resampler shares.
 */
export function assertResizeArguments(
  caller: string,
  source: { data: ArrayLike<number>; width: number; height: number; channels: number },
  width: number,
  height: number,
  region: { left: number; top: number; width: number; height: number },
): void {
  const { data, channels } = source;
  for (const [value, what] of [
    [width, "width"],
    [height, "height"],
    [region.width, "region width"],
    [region.height, "region height"],
    [channels, "channels"],
  ] as const) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new RangeError(`${caller}: ${what} must be a positive integer, got ${value}`);
    }
  }
  if (
    !Number.isInteger(region.left) ||
    !Number.isInteger(region.top) ||
    region.left < 0 ||
    region.top < 0 ||
    region.left + region.width > source.width ||
    region.top + region.height > source.height
  ) {
    throw new RangeError(
      `${caller}: region ${JSON.stringify(region)} does not fit inside the ${source.width}x${source.height} image`,
    );
  }
  if (data.length !== source.width * source.height * channels) {
    throw new RangeError(
      `${caller}: ${data.length} samples, expected ${source.width}x${source.height}x${channels}`,
    );
  }
}
