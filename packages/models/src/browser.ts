// The browser entry of @medfm/models (the package's `browser` export condition): build, load
// and run classifiers and Grad-CAM with no Node module. Saved classifiers are read through the
// io/ handlers (URLs or File objects); training, file-system I/O and the native backend stay in
// index.ts.
export type { Backbone, BackboneForwardOptions, BackboneMetadata } from "./backbones/backbone";
export {
  type BackbonePreprocessing,
  IMAGENET_PREPROCESSING,
  type PreprocessingCropConvention,
  type PreprocessingCropMode,
  type PreprocessingInterpolation,
} from "./backbones/backbone-spec";
export {
  DENSENET121_CONFIG,
  DENSENET169_CONFIG,
  DENSENET201_CONFIG,
  DenseNet,
  type DenseNetConfig,
  type DenseNetPresetOptions,
  densenet,
  densenet121,
  densenet169,
  densenet201,
} from "./backbones/densenet/densenet";
export { BackendUnavailableError } from "./backend/backend-unavailable-error";
export {
  type BrowserBackendName,
  type BrowserBackendSelection,
  browserBackendNames,
  type SelectBrowserBackendOptions,
  selectBrowserBackend,
} from "./backend/select-browser-backend";
export {
  type Classifier,
  type ClassifierForwardOptions,
  type CreateClassifierOptions,
  createClassifier,
  type LoadStateDictOptions,
  type LoadStateDictReport,
} from "./classifier";
export { type GradCamOptions, type GradCamResult, gradCam } from "./explain/grad-cam";
export {
  type HeatmapOverlayOptions,
  heatmapOverlay,
  jetColor,
  type RgbImage,
} from "./explain/heatmap-overlay";
export {
  type CosinePrototypeHead,
  type CosinePrototypeHeadOptions,
  cosinePrototypeHead,
} from "./heads/cosine-prototype-head";
export {
  type Head,
  type HeadForwardOptions,
  type HeadMetadata,
  type HeadOptions,
  type HeadType,
  scoresFromLogits,
} from "./heads/head";
export { headFromMetadata } from "./heads/head-from-metadata";
export { type LinearHeadOptions, linearHead } from "./heads/linear-head";
export { type MlpHeadOptions, mlpHead } from "./heads/mlp-head";
export {
  browserFilesClassifier,
  type ClassifierFile,
} from "./io/browser-files-classifier";
export {
  type ClassifierArtifacts,
  ClassifierFileError,
  type ClassifierFromArtifactsOptions,
  type ClassifierIOHandler,
  classifierFromArtifacts,
  loadClassifierFrom,
  parseClassifierModelJson,
} from "./io/classifier-artifacts";
export { type HttpClassifierOptions, httpClassifier } from "./io/http-classifier";
// The loader settings a model's preprocessing implies (preprocessRgba takes them).
export {
  type LoaderNormalisation,
  type LoaderResize,
  loaderNormalisation,
  loaderPreprocessing,
  loaderResize,
} from "./predict/loader-normalisation";
export type { ClassifierModelJson } from "./weights/save-load";
