export {
  AnnotationError,
  type AnnotationIssue,
  type AnnotationIssueCode,
  formatAnnotationIssue,
} from "./annotations/annotation-error";
export {
  type AnnotationFormat,
  type AnnotationFormatOption,
  type AnnotationSet,
  annotationFormats,
  type DuplicateName,
  type ParseAnnotationsOptions,
} from "./annotations/annotation-set";
export { detectAnnotationFormat } from "./annotations/detect-format";
export {
  type FormatAnnotationsOptions,
  formatAnnotations,
  resolveOutputFormat,
} from "./annotations/format-annotations";
export { type MedfmcTextFormat, medfmcFormatOf } from "./annotations/medfmc-text";
export { parseAnnotations } from "./annotations/parse-annotations";
export {
  findMissingImages,
  type ReadAnnotationFileOptions,
  readAnnotationFile,
  writeAnnotationFile,
} from "./annotations/read-annotation-file";
export { unsafePathReason } from "./annotations/safe-path";
export {
  type AugmentationPlan,
  type AugmentOptions,
  sampleAugmentation,
} from "./images/augmentation";
export { type Cv2Interpolation, cv2Resize } from "./images/cv2-resize";
export { type DecodedImage, type DecodeImageOptions, decodeImage } from "./images/decode-image";
export {
  createImageCache,
  type ImageCache,
  type ImageCacheOptions,
} from "./images/image-cache";
export { ImageError } from "./images/image-error";
export {
  type CheckImageFileOptions,
  checkImageFile,
  DEFAULT_MAX_PIXELS,
  type ImageFileProblem,
  readImageSize,
} from "./images/image-file-check";
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
export { type PilResize16Source, pilResize16 } from "./images/pil-resize-16";
export {
  type PreprocessRgbaOptions,
  preprocessRgba,
  type RgbaImage,
} from "./images/preprocess-rgba";
export {
  type RandomResizedCropOptions,
  randomResizedCropBox,
} from "./images/random-resized-crop";
export {
  type RawImage,
  type RawPixels,
  type ReadPixelsOptions,
  readPixels,
} from "./images/read-pixels";
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
export { rotatePixels } from "./images/rotate-pixels";
export {
  type CheckLeakageOptions,
  checkLeakage,
  type DuplicateFinding,
  formatLeakageReport,
  type GroupOverlapFinding,
  type LeakageReport,
  type NamedSampleList,
  type OverlapFinding,
} from "./leakage";
export { createLoader, type Loader, type LoaderOptions, type SkippedImage } from "./loader";
export { createRandom, hashSeed, type Random, type RandomState } from "./random";
export {
  type FewShotExperiment,
  type FewShotOptions,
  type FewShotShortfall,
  fewShotFileName,
  sampleFewShot,
  writeFewShotFiles,
} from "./splits/few-shot";
export {
  type IterativeStratificationOptions,
  iterativeStratification,
} from "./splits/iterative-stratification";
export {
  type SplitDeviation,
  type SplitPart,
  type SplitReport,
  splitReport,
} from "./splits/split-report";
export {
  assignParts,
  type Fold,
  type StratifiedSplitOptions,
  splitGroupsOf,
  stratifiedKFold,
  trainValSplit,
} from "./splits/stratified-split";
export {
  type AnnotationStats,
  type AnnotationStatsOptions,
  annotationStats,
  compareSplits,
  type SplitComparison,
  type SplitComparisonRow,
} from "./stats/annotation-stats";
export {
  cardinalitySvg,
  classCountsSvg,
  coOccurrenceSvg,
  splitComparisonSvg,
} from "./stats/stats-svg";
export {
  type GenerateSyntheticDatasetOptions,
  generateSyntheticDataset,
  type SyntheticDataset,
  type SyntheticTaskName,
} from "./synthetic/generate-synthetic-dataset";
export type { SyntheticClass, SyntheticTaskSpec } from "./synthetic/synthetic-task";
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
