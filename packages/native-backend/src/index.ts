export { type NativeBackendAsset, nativeBackendAssetPath } from "./assets";
export { type NativeBackendCommandsOptions, registerNativeBackendCommands } from "./commands";
export {
  DEFAULT_TENSORFLOW_VERSION,
  DEFAULT_WHEEL_PYTHON_VERSION,
  type InstallNativeBackendOptions,
  installNativeBackend,
  napiBuildVersion,
  pythonStubSource,
  type RunCommand,
  resolveTfjsPackageDirectory,
  spawnCommand,
  TFJS_NODE_VERSION,
} from "./install";
export {
  DEFAULT_NATIVE_DIRECTORY,
  NATIVE_BACKEND_MANIFEST,
  type NativeBackendManifest,
  readNativeBackendManifest,
} from "./manifest";
export {
  MEDFM_OPS,
  MEDFM_OPS_BEFORE_SIGNATURES,
  type MedfmOpDeclaration,
  medfmOpSignature,
} from "./medfm-ops";
export { NativeBackendError } from "./native-backend-error";
export {
  ASYNC_BINDING_SYMBOLS,
  missingTensorflowSymbols,
  REQUIRED_TENSORFLOW_SYMBOLS,
  undefinedPythonSymbols,
} from "./symbols";
