export { type NativeBackendAsset, nativeBackendAssetPath } from "./assets";
// The op declarations: everything the browser entry exports, which is a subset of this one.
export * from "./browser";
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
export { NativeBackendError } from "./native-backend-error";
export {
  ASYNC_BINDING_SYMBOLS,
  missingTensorflowSymbols,
  REQUIRED_TENSORFLOW_SYMBOLS,
  undefinedPythonSymbols,
} from "./symbols";
