import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { NativeBackendError } from "./native-backend-error";

/** Directory, relative to the working directory, that `installNativeBackend` fills by default. */
export const DEFAULT_NATIVE_DIRECTORY = ".medfm/native";

/** Name of the JSON manifest written into the provisioning directory. */
export const NATIVE_BACKEND_MANIFEST = "medfm-native-backend.json";

/** What `installNativeBackend` built, written to `medfm-native-backend.json` in its directory. */
export interface NativeBackendManifest {
  /** Directory of the built tfjs-node package: the value for `MEDFM_TFJS_NODE_PATH`. */
  packagePath: string;
  /** `@tensorflow/tfjs-node` or `@tensorflow/tfjs-node-gpu`. */
  packageName: string;
  /** TensorFlow version that the binding reported after loading (`TF_Version()`). */
  tensorflowVersion: string;
  /** File name of the wheel the libraries came from. */
  wheel: string;
  /** Whether the GPU wheel and CUDA libraries were used. */
  gpu: boolean;
  /** Shared libraries placed in `deps/lib`. */
  libraries: string[];
  /** `@tensorflow/tfjs` package directory that the binding was checked against. */
  tfjsPackageDirectory: string;
  /**
   * Whether the binding was built with asynchronous op execution (`assets/patch-binding.py`; off
   * at run time with `MEDFM_TF_ASYNC=0`). False for `--gpu` builds (it passed on a GPU but gave no
   * speed there) and when the libraries lack `ASYNC_BINDING_SYMBOLS`.
   */
  asyncExecution: boolean;
  /**
   * Whether the binding carries @medfm/models' own TensorFlow kernels (`assets/medfm_kernels.cc`,
   * declared in `MEDFM_OPS`). Built with the asynchronous binding, so false where
   * `asyncExecution` is.
   */
  medfmKernels: boolean;
  /** ISO time of the provisioning. */
  provisionedAt: string;
}

/**
 * Reads the manifest of a provisioning directory, or `undefined` when none was written. A
 * manifest that is not JSON, or whose `packagePath` is not a non-empty string, is a
 * `NativeBackendError` naming the file; a relative `packagePath` is resolved against `directory`.
 */
export function readNativeBackendManifest(directory: string): NativeBackendManifest | undefined {
  const file = path.join(directory, NATIVE_BACKEND_MANIFEST);
  if (!existsSync(file)) return undefined;
  let manifest: Partial<NativeBackendManifest>;
  try {
    manifest = JSON.parse(readFileSync(file, "utf8")) as Partial<NativeBackendManifest>;
  } catch (error) {
    throw new NativeBackendError(
      `${file} is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (typeof manifest.packagePath !== "string" || manifest.packagePath.trim() === "") {
    throw new NativeBackendError(
      `${file} has no string "packagePath" (got ${JSON.stringify(manifest.packagePath)})`,
    );
  }
  return {
    ...manifest,
    packagePath: path.resolve(directory, manifest.packagePath),
  } as NativeBackendManifest;
}
