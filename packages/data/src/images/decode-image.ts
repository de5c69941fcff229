import { type ReadPixelsOptions, readPixels } from "./read-pixels";

/** Options of {@link decodeImage}. */
export interface DecodeImageOptions extends Pick<ReadPixelsOptions, "name" | "resize" | "crop"> {
  /** Output channels: 3 (default; grayscale is repeated) or 1 (color becomes luma). */
  channels?: 1 | 3;
}

/** A decoded image as HWC floats on the 0–255 scale. */
export interface DecodedImage {
  /** HWC values in 0–255; 16-bit sources keep their precision as fractions. */
  data: Float32Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Channels in `data`. */
  channels: 1 | 3;
  /** Bits per sample of the source (16 for most DICOM-derived X-ray PNG/TIFF). */
  bitDepth: 8 | 16;
  /** Source width after EXIF orientation. */
  sourceWidth: number;
  /** Source height after EXIF orientation. */
  sourceHeight: number;
  /** Container format as sharp names it (`"png"`, `"jpeg"`, `"tiff"`, ...). */
  format: string;
}

/**
 * Decodes a PNG, JPEG or TIFF file (or buffer) to HWC floats on the 0–255 scale: EXIF
 * orientation applied, palette expanded, alpha dropped, grayscale repeated to 3 channels unless
 * 1 is asked for, 16-bit values scaled by 255/65535 without rounding. Optionally crops and
 * resizes (see {@link ResizeOptions}). Failures are `ImageError`s naming the file.
 */
export async function decodeImage(
  source: string | Uint8Array,
  options: DecodeImageOptions = {},
): Promise<DecodedImage> {
  const channels = options.channels ?? 3;
  const pixels = await readPixels(source, { ...options, channels });
  const count = pixels.width * pixels.height;
  const data = new Float32Array(count * channels);
  const scale = 255 / pixels.maxValue;
  const input = pixels.data;
  if (pixels.channels === channels) {
    for (let i = 0; i < data.length; i += 1) data[i] = input[i] * scale;
  } else {
    for (let i = 0; i < count; i += 1) {
      const value = input[i] * scale;
      data[i * 3] = value;
      data[i * 3 + 1] = value;
      data[i * 3 + 2] = value;
    }
  }
  return {
    data,
    width: pixels.width,
    height: pixels.height,
    channels,
    bitDepth: pixels.bitDepth,
    sourceWidth: pixels.sourceWidth,
    sourceHeight: pixels.sourceHeight,
    format: pixels.format,
  };
}
