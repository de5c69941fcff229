import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { ImageError } from "./image-error";
import type { SampleRecipe } from "./load-sample";

/** Worker threads that run `loadSample` for the loader, so decoding uses more than one core. */
export interface SampleWorkerPool {
  /**
   * Loads sample `sampleIndex` of `epoch` from `path` into `target` at `offset`; `target` must
   * view a `SharedArrayBuffer`, which the worker writes directly.
   */
  load(
    path: string,
    sampleIndex: number,
    epoch: number,
    target: Float32Array,
    offset: number,
  ): Promise<void>;
  /** Stops the threads; pending loads reject. */
  close(): Promise<void>;
}

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Reply {
  id: number;
  error?: { message: string; file?: string };
}

// The worker entry beside this module: TypeScript when running from sources (tests, benchmarks,
// through tsx's require hook), JavaScript in a build that emits it as its own entry.
const entries = [
  "./sample-worker.ts",
  "./sample-worker.js",
  "./images/sample-worker.js",
  "./images/sample-worker.cjs",
];

// Eval'd CommonJS bootstrap: a TypeScript entry is loaded through tsx's require hook (tsx does
// not register its ESM hooks in worker threads on Node 20), a JavaScript one is imported.
const bootstrap = `const { workerData } = require("node:worker_threads");
if (workerData.typescript) {
  require(workerData.typescript).register();
  require(workerData.entry);
} else {
  import(require("node:url").pathToFileURL(workerData.entry).href).catch((error) => {
    setTimeout(() => { throw error; });
  });
}`;

/** The worker entry's path and, for a TypeScript entry, tsx's require hook; or why there is none. */
function findEntry(): { entry: string; typescript?: string } | undefined {
  // A CommonJS build has no import.meta.url, but has __filename.
  const base =
    import.meta.url ||
    (typeof __filename === "string" ? pathToFileURL(__filename).href : undefined);
  if (!base) return undefined;
  for (const relative of entries) {
    const path = fileURLToPath(new URL(relative, base));
    if (!existsSync(path)) continue;
    if (!path.endsWith(".ts")) return { entry: path };
    try {
      return { entry: path, typescript: createRequire(base).resolve("tsx/cjs/api") };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Starts `count` worker threads that load samples by `recipe`, or returns `undefined` when the
 * worker entry cannot be found (a build that does not emit it), in which case the caller loads
 * in its own thread. A thread holds the process open only while it has
 * work. Replies are matched to requests, so the order of completion does not matter.
 */
export function createSampleWorkerPool(
  count: number,
  recipe: SampleRecipe,
): SampleWorkerPool | undefined {
  const found = findEntry();
  if (!found) return undefined;
  const threads: Array<{ worker: Worker; pending: Map<number, Pending> }> = [];
  let nextId = 0;
  let closed = false;
  for (let index = 0; index < count; index += 1) {
    const worker = new Worker(bootstrap, {
      eval: true,
      workerData: { ...found, recipe },
    });
    const pending = new Map<number, Pending>();
    const thread = { worker, pending };
    worker.unref();
    worker.on("message", (reply: Reply) => {
      const task = pending.get(reply.id);
      if (!task) return;
      pending.delete(reply.id);
      if (pending.size === 0) worker.unref();
      if (!reply.error) task.resolve();
      else if (reply.error.file !== undefined) {
        task.reject(new ImageError(reply.error.file, reply.error.message));
      } else task.reject(new Error(reply.error.message));
    });
    const failAll = (error: Error): void => {
      for (const task of pending.values()) task.reject(error);
      pending.clear();
      const at = threads.indexOf(thread);
      if (at >= 0) threads.splice(at, 1);
    };
    worker.on("error", (error) => failAll(error));
    worker.on("exit", (code) => {
      failAll(new Error(`sample worker thread exited with code ${code}`));
    });
    threads.push(thread);
  }
  return {
    load(path, sampleIndex, epoch, target, offset) {
      if (closed || threads.length === 0) {
        return Promise.reject(new Error("sample worker pool is closed"));
      }
      if (!(target.buffer instanceof SharedArrayBuffer)) {
        return Promise.reject(
          new TypeError("sample worker pool: target must view a SharedArrayBuffer"),
        );
      }
      // The thread with the fewest samples in flight.
      let thread = threads[0];
      for (const candidate of threads) {
        if (candidate.pending.size < thread.pending.size) thread = candidate;
      }
      const id = nextId;
      nextId += 1;
      return new Promise<void>((resolve, reject) => {
        if (thread.pending.size === 0) thread.worker.ref();
        thread.pending.set(id, { resolve, reject });
        thread.worker.postMessage({ id, path, sampleIndex, epoch, target, offset });
      });
    },
    async close() {
      closed = true;
      await Promise.all(threads.map(({ worker }) => worker.terminate()));
    },
  };
}
