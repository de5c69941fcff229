import * as tf from "@tensorflow/tfjs";
import { BackendUnavailableError } from "./backend-unavailable-error";

/** The tfjs backends a browser can run, best first. */
export type BrowserBackendName = "webgpu" | "webgl" | "wasm" | "cpu";

/** The browser backend names, best first: the default order of {@link selectBrowserBackend}. */
export const browserBackendNames: readonly BrowserBackendName[] = [
  "webgpu",
  "webgl",
  "wasm",
  "cpu",
];

/** Options of {@link selectBrowserBackend}. */
export interface SelectBrowserBackendOptions {
  /**
   * Backends to try, in order (default {@link browserBackendNames}). A backend must be
   * registered first: `@tensorflow/tfjs` registers webgl and cpu; importing
   * `@tensorflow/tfjs-backend-webgpu` or `@tensorflow/tfjs-backend-wasm` registers theirs
   * (wasm also needs `setWasmPaths` to find its `.wasm` files).
   */
  order?: readonly BrowserBackendName[];
}

/** What {@link selectBrowserBackend} chose, and why the better ones were skipped. */
export interface BrowserBackendSelection {
  /** The tfjs backend now active. */
  backend: BrowserBackendName;
  /** Better backends tried first, each with the reason it was not used. */
  skipped: Array<{ backend: BrowserBackendName; reason: string }>;
}

/**
 * The browser's counterpart of `selectBackend`: activates the first backend of `order` that is
 * registered and initialises (WebGPU needs `navigator.gpu`, WebGL a GL context, wasm its
 * binaries). Throws a {@link BackendUnavailableError} listing every reason when none does.
 */
export async function selectBrowserBackend(
  options: SelectBrowserBackendOptions = {},
): Promise<BrowserBackendSelection> {
  const order = options.order ?? browserBackendNames;
  const skipped: BrowserBackendSelection["skipped"] = [];
  for (const backend of order) {
    if (!browserBackendNames.includes(backend)) {
      throw new RangeError(
        `selectBrowserBackend: unknown backend ${JSON.stringify(backend)} (known: ${browserBackendNames.join(", ")})`,
      );
    }
    if (tf.findBackendFactory(backend) === null) {
      skipped.push({ backend, reason: "not registered (its package was not imported)" });
      continue;
    }
    try {
      if (await tf.setBackend(backend)) {
        await tf.ready();
        return { backend, skipped };
      }
      skipped.push({ backend, reason: "failed to initialise" });
    } catch (error) {
      skipped.push({ backend, reason: (error as Error).message });
    }
  }
  throw new BackendUnavailableError(
    order.join(" > "),
    `no browser backend could start: ${skipped.map(({ backend, reason }) => `${backend} (${reason})`).join("; ")}`,
  );
}
