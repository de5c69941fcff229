import { fileURLToPath } from "node:url";

/** Files shipped in this package's `assets/` folder, which the installer copies and runs. */
export type NativeBackendAsset = "medfm_kernels.cc" | "patch-binding.py" | "extract-wheel.py";

/**
 * Absolute path of one of this package's assets. `src/` (tests) and `dist/` (the published
 * build) both sit one level below the package root, beside `assets/`.
 */
export function nativeBackendAssetPath(asset: NativeBackendAsset): string {
  return fileURLToPath(new URL(`../assets/${asset}`, import.meta.url));
}
