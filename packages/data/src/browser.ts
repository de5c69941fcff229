// The browser entry of @medfm/data (the package's `browser` export condition): everything that
// needs neither Node's modules nor sharp. Files, workers and sharp's decoders stay in index.ts;
// a browser decodes images itself and hands the RGBA pixels to preprocessRgba.
export { type Cv2Interpolation, cv2Resize } from "./images/cv2-resize";
export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  type NormalizeOptions,
  normalizeInto,
  type PixelSource,
} from "./images/normalize";
export type { PilFilter } from "./images/pil-filters";
export {
  type PilResizeOptions,
  type PilResizeRegion,
  type PilResizeSource,
  pilResize,
} from "./images/pil-resize";
export {
  type PreprocessRgbaOptions,
  preprocessRgba,
  type RgbaImage,
} from "./images/preprocess-rgba";
export {
  type CropBox,
  type CropConvention,
  type ResizeBackend,
  type ResizeKernel,
  type ResizeMode,
  type ResizeOptions,
  resizedRegion,
  shortSideCropGeometry,
} from "./images/resize-options";
export { type DrawableImage, decodeImageBlob, rgbaFromImage } from "./images/rgba-from-image";
export { createRandom, hashSeed, type Random, type RandomState } from "./random";
export {
  chestTask,
  colonPatientId,
  colonTask,
  type DefineTaskOptions,
  defineTask,
  endoStudyId,
  endoTask,
  getTask,
  type MedfmcTextLayout,
  type MedfmTask,
  medfmTasks,
  textLayoutOf,
} from "./tasks";
export type { Batch, Sample, TaskDefinition, TaskKind } from "./types";
