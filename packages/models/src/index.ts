// Backends and kernels (src/backend/).
export { BackendUnavailableError } from "./backend/backend-unavailable-error";
export { registerWasmKernels } from "./backend/register-wasm-kernels";
export {
  type BackendName,
  type BackendSelection,
  backendNames,
  provisionHint,
  type SelectBackendOptions,
  type SkippedBackend,
  selectBackend,
} from "./backend/select-backend";

// Backbones, heads and the classifier (src/backbones/, src/heads/, src/classifier.ts).

// Weights (src/weights/).

// Training (src/train/).
