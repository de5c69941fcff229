import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs";

/** What the threaded build's emscripten factory resolves to (the parts used here). */
interface EmscriptenModule {
  cwrap(name: string, returnType: string | null, argumentTypes: string[]): unknown;
  tfjs?: Record<string, unknown>;
}

/** The parts of `@tensorflow/tfjs-backend-wasm` the threaded factory uses. */
export type WasmPackage = {
  BackendWasm: new (module: unknown) => tf.KernelBackend;
  setThreadsCount(count: number): void;
  getThreadsCount(): number;
};

/** The most threads tfjs's threaded build can use: it pre-creates 8 pthread workers. */
export const maxWasmThreads = 8;

const here = typeof __filename === "string" ? __filename : import.meta.url;

/**
 * Replaces the `wasm` backend's factory with one that loads tfjs's threaded SIMD build, which
 * tfjs disables in Node because its pthread workers come from a blob URL that Node's `Worker`
 * refuses. Here the worker script tfjs ships as a string (`wasm-out/*.worker.js`) is written to a
 * file in the temporary directory and the workers load the build from its file path.
 *
 * tfjs caps the pool at half of `os.cpus().length` (it assumes two hyperthreads per core), which
 * gives one thread on a 2-vCPU machine; the factory reports `2·threads` CPUs while the module
 * starts so that exactly `threads` are used. Call before the wasm backend initialises.
 *
 * Experimental: small graphs run and match the cpu backend (DenseNet-121 inference at 128 px,
 * batch 2, too), but DenseNet-121 at 224 px, and any DenseNet training step, deadlock with every
 * thread asleep (a bigger initial heap did not help); it is off by default.
 */
export function registerThreadedWasmBackend(threads: number, wasm: WasmPackage): void {
  if (!Number.isInteger(threads) || threads < 2 || threads > maxWasmThreads) {
    throw new RangeError(
      `threaded wasm needs 2 to ${maxWasmThreads} threads, got ${threads} (1 means the plain build)`,
    );
  }
  const require = createRequire(here);
  const outDirectory = join(
    dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")),
    "wasm-out",
  );
  const factory = async (): Promise<tf.KernelBackend> => {
    const mainScript = join(outDirectory, "tfjs-backend-wasm-threaded-simd.js");
    const moduleFactory = require(mainScript) as (config: object) => Promise<EmscriptenModule>;
    const { wasmWorkerContents } = require(
      join(outDirectory, "tfjs-backend-wasm-threaded-simd.worker.js"),
    ) as { wasmWorkerContents: string };
    // The contents were made for a Blob: their "\n" escapes arrive as newlines and must go back.
    const worker = wasmWorkerContents.replace(/\n/g, "\\n");
    const workerFile = join(tmpdir(), `medfm-tfjs-wasm-${tf.version_core}-${hash(worker)}.cjs`);
    writeFileSync(workerFile, worker);
    const os = require("node:os") as { cpus: () => unknown[] };
    const cpus = os.cpus;
    os.cpus = () => Array.from({ length: 2 * threads }, () => cpus()[0]);
    let module: EmscriptenModule;
    try {
      module = await moduleFactory({
        locateFile: (path: string, prefix: string) => {
          if (path.endsWith(".worker.js")) return workerFile;
          if (path.endsWith(".wasm")) return join(outDirectory, path);
          return prefix + path;
        },
        mainScriptUrlOrBlob: mainScript,
      });
    } finally {
      os.cpus = cpus;
    }
    module.tfjs = {
      init: module.cwrap("init", null, []),
      initWithThreadsCount: module.cwrap("init_with_threads_count", null, ["number"]),
      getThreadsCount: module.cwrap("get_threads_count", "number", []),
      registerTensor: module.cwrap("register_tensor", null, ["number", "number", "number"]),
      disposeData: module.cwrap("dispose_data", null, ["number"]),
      dispose: module.cwrap("dispose", null, []),
    };
    wasm.setThreadsCount(threads);
    return new wasm.BackendWasm(module);
  };
  if (tf.findBackendFactory("wasm") !== null) tf.removeBackend("wasm");
  tf.registerBackend("wasm", factory, 2);
}

function hash(text: string): string {
  let value = 2166136261;
  for (let i = 0; i < text.length; i++) value = Math.imul(value ^ text.charCodeAt(i), 16777619);
  return (value >>> 0).toString(16);
}
