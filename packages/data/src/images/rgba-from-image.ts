// Browser decoding for preprocessRgba. The package compiles without DOM types, so the few DOM
// members used here are declared structurally.

import type { RgbaImage } from "./preprocess-rgba";

/** A 2D context's `getImageData` and `drawImage`, as canvases and offscreen canvases have them. */
interface Context2d {
  drawImage(image: unknown, x: number, y: number): void;
  getImageData(x: number, y: number, width: number, height: number): RgbaImage;
}

/** Something with a size that a canvas can draw: `ImageBitmap`, a canvas, an `<img>`. */
export interface DrawableImage {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
}

/** The DOM globals {@link rgbaFromImage} and {@link decodeImageBlob} need. */
interface BrowserGlobals {
  OffscreenCanvas?: new (
    width: number,
    height: number,
  ) => { getContext(kind: "2d", options?: object): Context2d | null };
  createImageBitmap?: (blob: unknown, options?: object) => Promise<DrawableImage>;
}

const dom = globalThis as unknown as BrowserGlobals;

/**
 * The RGBA bytes of an `ImageBitmap`, canvas or `ImageData`, drawn 1:1 onto an offscreen
 * canvas (an `ImageData` is returned as it is). Needs `OffscreenCanvas` (a browser or worker).
 */
export function rgbaFromImage(image: DrawableImage | RgbaImage): RgbaImage {
  if ("data" in image && image.data instanceof Uint8ClampedArray) return image as RgbaImage;
  if (!dom.OffscreenCanvas) {
    throw new Error("rgbaFromImage: no OffscreenCanvas here (run it in a browser)");
  }
  const canvas = new dom.OffscreenCanvas(image.width, image.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  if (!context) throw new Error("rgbaFromImage: no 2d context on an OffscreenCanvas");
  context.drawImage(image, 0, 0);
  const { data, width, height } = context.getImageData(0, 0, image.width, image.height);
  return { data, width, height };
}

/**
 * Decodes an image `Blob` or `File` (PNG, JPEG, ... as the browser reads them) to RGBA bytes
 * without colour management or alpha premultiplication, so 8-bit PNG samples arrive as they
 * are stored: the same bytes readPixels decodes in Node. `name` is used in errors.
 */
export async function decodeImageBlob(blob: unknown, name = "<blob>"): Promise<RgbaImage> {
  if (!dom.createImageBitmap) {
    throw new Error(`${name}: no createImageBitmap here (run it in a browser)`);
  }
  let bitmap: DrawableImage;
  try {
    bitmap = await dom.createImageBitmap(blob, {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
    });
  } catch (error) {
    throw new Error(`${name}: cannot decode image (${(error as Error).message})`, { cause: error });
  }
  return rgbaFromImage(bitmap);
}
