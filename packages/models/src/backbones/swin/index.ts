// The public API of the Swin backbone, re-exported whole by the package index.
export {
  type ResolvedSwinConfig,
  Swin,
  type SwinConfig,
  SwinInputError,
  swin,
} from "./swin";
export {
  inferSwinConfig,
  normaliseSwinKey,
  remapOriginalSwinKeys,
  SwinStateDictError,
  swinTensorToNative,
  swinTensorToTorch,
} from "./swin-keys";
export {
  SWIN_BASE_CONFIG,
  SWIN_PREPROCESSING,
  SWIN_SMALL_CONFIG,
  SWIN_TINY_CONFIG,
  swinSpec,
} from "./swin-spec";
