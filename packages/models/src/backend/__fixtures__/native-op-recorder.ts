import * as tf from "@tensorflow/tfjs";
import { vi } from "vitest";

/** What {@link recordNativeOps} returns. */
export interface NativeOpRecorder {
  /**
   * Names of the TensorFlow ops run by name (single-output ops first, then the rest): so far, or
   * until {@link NativeOpRecorder.restore} once it has been called.
   */
  names(): string[];
  /** Stops recording and restores the backend's methods; {@link NativeOpRecorder.names} keeps its answer. */
  restore(): void;
}

/**
 * Records the TensorFlow ops the active backend runs by name (tfjs-node's `executeSingleOutput`
 * and `executeMultipleOutputs`), to see which kernels did the work. Records nothing on backends
 * without them (cpu, wasm).
 */
export function recordNativeOps(): NativeOpRecorder {
  const backend = tf.backend() as unknown as Record<
    string,
    (name: string, ...rest: unknown[]) => unknown
  >;
  const spies = (["executeSingleOutput", "executeMultipleOutputs"] as const)
    .filter((method) => typeof backend[method] === "function")
    .map((method) => vi.spyOn(backend, method));
  const recorded = () => spies.flatMap((spy) => spy.mock.calls.map((call) => String(call[0])));
  let final: string[] | undefined;
  return {
    names: () => final ?? recorded(),
    restore: () => {
      final ??= recorded();
      for (const spy of spies) spy.mockRestore();
    },
  };
}
