/** A grayscale or RGB float canvas on the 0–255 scale, used to draw synthetic images. */
export interface Canvas {
  /** HWC values, nominally 0–255 (clamped when encoded). */
  data: Float32Array;
  /** Width and height in pixels (square). */
  size: number;
  /** 1 (grayscale) or 3 (RGB). */
  channels: 1 | 3;
}

/** An ellipse in coordinates relative to the canvas (0–1 on both axes). */
export interface EllipseShape {
  /** Center x, 0–1. */
  cx: number;
  /** Center y, 0–1. */
  cy: number;
  /** Radius along x, relative to the width. */
  rx: number;
  /** Radius along y, relative to the height. */
  ry: number;
  /** Width of the soft edge relative to the radius; default 0.15. */
  edge?: number;
}

/** Creates a canvas filled with `value` in every channel. */
export function createCanvas(size: number, channels: 1 | 3, value = 0): Canvas {
  return { data: new Float32Array(size * size * channels).fill(value), size, channels };
}

/**
 * Coverage of pixel (x, y) by `shape`: 1 inside, 0 outside, a smooth ramp across the edge.
 */
export function ellipseCoverage(shape: EllipseShape, size: number, x: number, y: number): number {
  const dx = ((x + 0.5) / size - shape.cx) / shape.rx;
  const dy = ((y + 0.5) / size - shape.cy) / shape.ry;
  const distance = Math.sqrt(dx * dx + dy * dy);
  const edge = shape.edge ?? 0.15;
  const t = (1 + edge / 2 - distance) / edge;
  if (t <= 0) return 0;
  if (t >= 1) return 1;
  return t * t * (3 - 2 * t);
}

/**
 * Paints `shape` with `color` (one value per channel, or one for all): `"set"` blends toward
 * the color by the coverage, `"add"` adds color × coverage.
 */
export function paintEllipse(
  canvas: Canvas,
  shape: EllipseShape,
  color: number | readonly number[],
  mode: "set" | "add" = "set",
): void {
  const { size, channels, data } = canvas;
  const x0 = Math.max(0, Math.floor((shape.cx - shape.rx * 1.2) * size));
  const x1 = Math.min(size - 1, Math.ceil((shape.cx + shape.rx * 1.2) * size));
  const y0 = Math.max(0, Math.floor((shape.cy - shape.ry * 1.2) * size));
  const y1 = Math.min(size - 1, Math.ceil((shape.cy + shape.ry * 1.2) * size));
  for (let y = y0; y <= y1; y += 1) {
    for (let x = x0; x <= x1; x += 1) {
      const coverage = ellipseCoverage(shape, size, x, y);
      if (coverage === 0) continue;
      const base = (y * size + x) * channels;
      for (let channel = 0; channel < channels; channel += 1) {
        const value = typeof color === "number" ? color : color[channel];
        data[base + channel] =
          mode === "add"
            ? data[base + channel] + value * coverage
            : data[base + channel] + (value - data[base + channel]) * coverage;
      }
    }
  }
}

/** Adds `value` along a straight line of the given thickness (relative coordinates). */
export function paintLine(
  canvas: Canvas,
  from: readonly [number, number],
  to: readonly [number, number],
  thickness: number,
  value: number,
  clip?: (x: number, y: number) => number,
): void {
  const { size, channels, data } = canvas;
  const [ax, ay] = from;
  const [bx, by] = to;
  const lengthSquared = (bx - ax) ** 2 + (by - ay) ** 2 || 1e-9;
  for (let y = 0; y < size; y += 1) {
    const py = (y + 0.5) / size;
    for (let x = 0; x < size; x += 1) {
      const px = (x + 0.5) / size;
      const t = Math.max(
        0,
        Math.min(1, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / lengthSquared),
      );
      const distance = Math.hypot(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay)));
      const weight = Math.max(0, 1 - distance / thickness) * (clip ? clip(x, y) : 1);
      if (weight === 0) continue;
      const base = (y * size + x) * channels;
      for (let channel = 0; channel < channels; channel += 1)
        data[base + channel] += value * weight;
    }
  }
}

/** Converts a canvas to 8-bit pixels, clamping to 0–255 and rounding. */
export function canvasToBytes(canvas: Canvas): Uint8Array {
  const bytes = new Uint8Array(canvas.data.length);
  for (let i = 0; i < bytes.length; i += 1) {
    bytes[i] = Math.max(0, Math.min(255, Math.round(canvas.data[i])));
  }
  return bytes;
}
