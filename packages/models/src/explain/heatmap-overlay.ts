/** Options of {@link heatmapOverlay}. */
export interface HeatmapOverlayOptions {
  /** Weight of the image in the blend; the heatmap gets `1 − imageWeight` (default 0.5). */
  imageWeight?: number;
}

/** An 8-bit RGB image, HWC. */
export interface RgbImage {
  /** `height × width × 3` bytes. */
  data: Uint8Array;
  width: number;
  height: number;
}

/** OpenCV's COLORMAP_JET at `value` in [0, 1], as 0–255 RGB. */
export function jetColor(value: number): [number, number, number] {
  const v = Math.min(1, Math.max(0, value));
  const channel = (offset: number) =>
    Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - offset))));
  return [channel(3), channel(2), channel(1)];
}

/**
 * Blends a [0, 1] heatmap, coloured with the jet colormap, over an image of the same size, as
 * pytorch-grad-cam's `show_cam_on_image`: `imageWeight · image + (1 − imageWeight) · jet(heat)`.
 * `pixels` is HWC with 1 (gray) or 3 channels; the result is RGB.
 */
export function heatmapOverlay(
  pixels: { data: Uint8Array; width: number; height: number; channels: number },
  heatmap: Float32Array,
  options: HeatmapOverlayOptions = {},
): RgbImage {
  const { width, height, channels, data } = pixels;
  if (heatmap.length !== width * height) {
    throw new RangeError(
      `heatmapOverlay: heatmap has ${heatmap.length} values for a ${width}x${height} image`,
    );
  }
  if ((channels !== 1 && channels !== 3) || data.length !== width * height * channels) {
    throw new RangeError(
      `heatmapOverlay: image must be ${width}x${height} with 1 or 3 channels, got ${data.length} bytes and ${channels} channels`,
    );
  }
  const imageWeight = options.imageWeight ?? 0.5;
  if (!(imageWeight >= 0 && imageWeight <= 1)) {
    throw new RangeError(`heatmapOverlay: imageWeight must be in [0, 1], got ${imageWeight}`);
  }
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i += 1) {
    const color = jetColor(heatmap[i]);
    for (let c = 0; c < 3; c += 1) {
      const source = data[channels === 1 ? i : i * 3 + c];
      out[i * 3 + c] = Math.round(imageWeight * source + (1 - imageWeight) * color[c]);
    }
  }
  return { data: out, width, height };
}
