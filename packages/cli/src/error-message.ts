/**
 * The message `medfm` prints for an error. A WebAssembly abort (tfjs' wasm backend: emscripten's
 * `Aborted()`, with no detail in release builds) is explained: it is most often the wasm heap,
 * which cannot grow past 4 GiB, running out during training, where every activation of a batch
 * is held for the backward pass.
 */
export function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error instanceof WebAssembly.RuntimeError && error.message.startsWith("Aborted(")) {
    return (
      `the wasm backend aborted (${error.message}): most often its memory, a WebAssembly heap of at most 4 GiB, ran out. ` +
      "Use a smaller --batch-size or --image-size, or the native tensorflow backend (medfm backend install)"
    );
  }
  return error.message;
}
