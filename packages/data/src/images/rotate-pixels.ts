import type { PixelSource } from "./normalize";

/**
 * Rotates an image by `degrees` (counter-clockwise) about its center with bilinear sampling,
 * keeping its size; pixels that come from outside the image are 0 (black), as torchvision's
 * `RandomRotation` fills by default. Returns a new source with `Float32Array` data.
 */
export function rotatePixels(source: PixelSource, degrees: number): PixelSource {
  const { width, height, channels, data } = source;
  const output = new Float32Array(width * height * channels);
  const radians = (degrees * Math.PI) / 180;
  const cos = Math.cos(radians);
  const sin = Math.sin(radians);
  const centerX = (width - 1) / 2;
  const centerY = (height - 1) / 2;
  for (let y = 0; y < height; y += 1) {
    const dy = y - centerY;
    for (let x = 0; x < width; x += 1) {
      const dx = x - centerX;
      // Inverse mapping: where in the source this output pixel comes from (image y points down,
      // so a counter-clockwise turn on screen uses +sin for x and -sin for y here).
      const sourceX = cos * dx - sin * dy + centerX;
      const sourceY = sin * dx + cos * dy + centerY;
      const x0 = Math.floor(sourceX);
      const y0 = Math.floor(sourceY);
      if (x0 < -1 || y0 < -1 || x0 >= width || y0 >= height) continue;
      const fx = sourceX - x0;
      const fy = sourceY - y0;
      const out = (y * width + x) * channels;
      for (let channel = 0; channel < channels; channel += 1) {
        const sample = (px: number, py: number): number =>
          px < 0 || py < 0 || px >= width || py >= height
            ? 0
            : data[(py * width + px) * channels + channel];
        const top = sample(x0, y0) * (1 - fx) + sample(x0 + 1, y0) * fx;
        const bottom = sample(x0, y0 + 1) * (1 - fx) + sample(x0 + 1, y0 + 1) * fx;
        output[out + channel] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return { data: output, width, height, channels, maxValue: source.maxValue };
}
