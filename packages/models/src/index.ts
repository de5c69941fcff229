// Backbones (src/backbones/).
export type { Backbone, BackboneForwardOptions, BackboneMetadata } from "./backbones/backbone";
export {
  type BackbonePreprocessing,
  type BackbonePreset,
  type BackbonePromptSupport,
  type BackboneSpec,
  type BackboneWeights,
  IMAGENET_PREPROCESSING,
  type PreprocessingCropConvention,
  type PreprocessingCropMode,
  type PreprocessingInterpolation,
  type PromptTokenSettings,
} from "./backbones/backbone-spec";
export { BatchNorm2d, type BatchNormApplyOptions } from "./backbones/densenet/batch-norm";
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
export { DENSENET_TINY_CONFIG, densenetSpec } from "./backbones/densenet/densenet-spec";
export {
  type InferredDenseNet,
  inferDenseNetConfig,
  nativeTensorToTorch,
  normaliseTorchDenseNetKey,
  torchTensorToNative,
} from "./backbones/densenet/torchvision-densenet-keys";
export {
  type FoundPreset,
  findPreset,
  getBackboneSpec,
  listBackbones,
  listPresetNames,
  registerBackbone,
  requirePreset,
  UnknownBackboneError,
  UnknownPresetError,
  unregisterBackbone,
} from "./backbones/registry";
export {
  backboneFromMetadata,
  createBackbone,
  DEFAULT_HEAD_PREFIX,
  defaultPreprocessingOf,
  headPrefixOf,
  specOfBackbone,
} from "./backbones/spec-of";
// Swin Transformer: its folder's public API (src/backbones/swin/index.ts).
export * from "./backbones/swin/index";
export { HWIO_TO_OIHW, OIHW_TO_HWIO, permuteValues } from "./backbones/torch-layout";
// Vision Transformer (src/backbones/vit/).
export {
  bicubicAntialiasMatrix,
  bicubicMatrix,
  type PositionInterpolation,
  resamplePositionEmbedding,
} from "./backbones/vit/resample-position-embedding";
export {
  type ResolvedVitConfig,
  Vit,
  type VitConfig,
  type VitGlobalPool,
  VitInputError,
  vit,
} from "./backbones/vit/vit";
export {
  convertVitStateDict,
  detectVitLayout,
  fuseSplitQkv,
  type InferVitConfigOptions,
  inferVitConfig,
  normaliseVitKey,
  type TorchTensor,
  VIT_LAYOUT_DEFAULTS,
  type VitCheckpointLayout,
  VitStateDictError,
  vitTensorToNative,
  vitTensorToTorch,
} from "./backbones/vit/vit-keys";
export {
  DINOV2_PREPROCESSING,
  VIT_PREPROCESSING,
  VIT_PRESETS,
  vitSpec,
} from "./backbones/vit/vit-spec";
// Backends and kernels (src/backend/).
export { BackendUnavailableError } from "./backend/backend-unavailable-error";
export {
  type BatchNormTrainingOptions,
  type BatchStatisticsCallback,
  batchNormTraining,
  type RunningStatistics,
} from "./backend/batch-norm-training";
export { registerFusedBatchNormGrad } from "./backend/fused-batch-norm-grad";
export { registerMedfmKernels } from "./backend/kernel-registry";
export { registerWasmKernels } from "./backend/register-wasm-kernels";
export { registerReluGrad, reluGradConfig } from "./backend/relu-grad";
export {
  type BackendName,
  type BackendSelection,
  backendNames,
  provisionHint,
  type SelectBackendOptions,
  type SkippedBackend,
  selectBackend,
} from "./backend/select-backend";
// The classifier and its heads (src/classifier.ts, src/heads/).
export {
  type Classifier,
  type ClassifierForwardOptions,
  type CreateClassifierOptions,
  createClassifier,
  type LoadStateDictOptions,
  type LoadStateDictReport,
  moveClassifierToBackbone,
} from "./classifier";
// Explanations (src/explain/).
export { type GradCamOptions, type GradCamResult, gradCam } from "./explain/grad-cam";
export {
  type HeatmapOverlayOptions,
  heatmapOverlay,
  jetColor,
  type RgbImage,
} from "./explain/heatmap-overlay";
// Few-shot adaptation (src/fewshot/).
export {
  type AdaptationMethod,
  type AdaptationResult,
  type AdaptationTrainingOptions,
  type AdaptClassifierOptions,
  type AdaptedModel,
  adaptationMethods,
  adaptClassifier,
  DEFAULT_PROMPT_TOKENS,
  saveAdaptation,
} from "./fewshot/adapt-classifier";
export {
  DEFAULT_FEATURE_CACHE_DIR,
  type ExtractedFeatures,
  type ExtractFeaturesOptions,
  extractFeatures,
  type FeaturePreprocessing,
  preprocessingKey,
  weightsFingerprint,
} from "./fewshot/feature-cache";
export { type FeatureMatrix, l2NormalizeRows } from "./fewshot/feature-matrix";
export {
  fitLogisticRegression,
  type LogisticRegressionClassReport,
  type LogisticRegressionModel,
  type LogisticRegressionOptions,
} from "./fewshot/logistic-regression";
export {
  promptTokensOf,
  type WithPromptTokensOptions,
  withPromptTokens,
} from "./fewshot/prompt-tokens";
export {
  loadVisualPrompt,
  type PromptedClassifier,
  promptedClassifier,
  saveVisualPrompt,
  VISUAL_PROMPT_FILE,
  type VisualPrompt,
  type VisualPromptOptions,
  visualPrompt,
} from "./fewshot/visual-prompt";
export {
  type CosinePrototypeHead,
  type CosinePrototypeHeadOptions,
  cosinePrototypeHead,
} from "./heads/cosine-prototype-head";
export {
  DEFAULT_HEAD_KEY_PREFIX,
  type Head,
  type HeadBuildOptions,
  type HeadForwardOptions,
  type HeadMetadata,
  type HeadOptions,
  type HeadType,
  scoresFromLogits,
} from "./heads/head";
export { headFromMetadata } from "./heads/head-from-metadata";
export { type LinearHeadOptions, linearHead } from "./heads/linear-head";
export { type MlpHeadOptions, mlpHead } from "./heads/mlp-head";
// Pretrained weights from the Hugging Face hub (src/hub/); only from-pretrained uses tfjs.
export {
  type DownloadHubFileOptions,
  downloadHubFile,
  type HubFile,
  type HubProgressEvent,
} from "./hub/download-file";
export {
  type FromPretrainedOptions,
  fromPretrained,
  type PretrainedBackbone,
  type PretrainedClassifier,
  type PretrainedLoadReport,
  type PretrainedSource,
} from "./hub/from-pretrained";
export {
  type BackboneHubSupport,
  detectHubArchitecture,
  type HubArchitecture,
  type HubModelConfig,
  hubArchitectureNames,
} from "./hub/hub-architecture";
export {
  type HubRepoCache,
  hubRepoCache,
  readCachedRef,
  repoFolderName,
} from "./hub/hub-cache";
export {
  DEFAULT_HUB_ENDPOINT,
  type HubSettings,
  type HubSettingsOptions,
  hubSettings,
  resolveUrl,
} from "./hub/hub-endpoint";
export {
  EntryNotFoundError,
  GatedRepoError,
  HubConnectionError,
  HubError,
  HubFormatError,
  HubHttpError,
  HubIntegrityError,
  type HubLocation,
  HubOfflineError,
  RepoNotFoundError,
  RevisionNotFoundError,
  UnsupportedArchitectureError,
} from "./hub/hub-errors";
export {
  type HubConfig,
  type HubInterpolation,
  type HubPreprocessing,
  preprocessingFromImageProcessor,
  preprocessingFromPretrainedCfg,
  readHubConfig,
} from "./hub/hub-preprocessing";
export {
  type PretrainedReference,
  type ResolvePretrainedReferenceOptions,
  resolvePretrainedReference,
} from "./hub/pretrained-reference";
export {
  CONFIG_NAME,
  type HubSnapshot,
  type HubWeightFiles,
  PREPROCESSOR_CONFIG_NAME,
  type PullSnapshotOptions,
  pullSnapshot,
  resolveWeightFiles,
  SAFETENSORS_INDEX_NAME,
  SAFETENSORS_WEIGHTS_NAME,
} from "./hub/pull-snapshot";
// Reading saved classifiers through io handlers (src/io/): files, URLs, File objects.
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
export { fileSystemClassifier } from "./io/file-system-classifier";
export { type HttpClassifierOptions, httpClassifier } from "./io/http-classifier";
// Inference (src/predict/).
export { formatSubmission, writeSubmission } from "./predict/format-submission";
export { IMAGE_EXTENSIONS, type ListImagesOptions, listImages } from "./predict/list-images";
export {
  type LoaderNormalisation,
  type LoaderResize,
  loaderNormalisation,
  loaderPreprocessing,
  loaderResize,
  withModelPreprocessing,
} from "./predict/loader-normalisation";
export {
  type PredictImagesOptions,
  type Predictions,
  type PredictProgress,
  predictImages,
  type ScoringModel,
  type TestTimeAugmentation,
} from "./predict/predict-images";
export {
  CHECKPOINT_VERSION,
  type Checkpoint,
  readCheckpoint,
  restoreCheckpoint,
  type TrainerPosition,
  type TrainerStateFile,
  writeCheckpoint,
} from "./train/checkpoint";
export { evaluateModel, evaluateTask, type TaskEvaluation } from "./train/evaluate";
// Training (src/train/).
export {
  type AsymmetricLossOptions,
  asymmetricLoss,
  type BinaryCrossEntropyOptions,
  binaryCrossEntropyWithLogits,
  type LossFunction,
  type SoftmaxCrossEntropyOptions,
  softmaxCrossEntropy,
} from "./train/losses";
export {
  type AdamWOptions,
  adamw,
  clipGradientsByGlobalNorm,
  type Optimizer,
  type OptimizerState,
  type SgdOptions,
  sgd,
} from "./train/optimizers";
export {
  type CosineScheduleOptions,
  constantSchedule,
  cosineSchedule,
  type LearningRateSchedule,
  type StepScheduleOptions,
  stepSchedule,
} from "./train/schedules";
export {
  type BatchEndEvent,
  type BatchSource,
  createTrainer,
  type EpochEndEvent,
  type EvaluateEvent,
  NonFiniteLossError,
  type TrainableModel,
  type Trainer,
  type TrainerEvents,
  type TrainerOptions,
  type TrainingHistory,
} from "./train/trainer";
// Weights (src/weights/).
export {
  type CreateClassifierFromTorchOptions,
  createClassifierFromTorch,
  type DetectedTorchBackbone,
  detectTorchBackbone,
  exportTorchStateDict,
  type LoadTorchWeightsOptions,
  type LoadTorchWeightsReport,
  loadTorchStateDict,
  loadTorchWeights,
  nativeTensorToTorchWith,
  saveTorchWeights,
  torchTensorToNativeWith,
} from "./weights/load-torch-weights";
export {
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  type SafetensorsDtype,
  SafetensorsError,
  type SafetensorsFile,
  type SafetensorsInput,
  type SafetensorsTensor,
} from "./weights/safetensors";
export {
  CLASSIFIER_FORMAT,
  CLASSIFIER_FORMAT_VERSION,
  type ClassifierModelJson,
  type LoadClassifierOptions,
  loadClassifier,
  type SaveClassifierOptions,
  saveClassifier,
} from "./weights/save-load";
export { StateDictError, type StateDictErrorDetails } from "./weights/state-dict-error";
