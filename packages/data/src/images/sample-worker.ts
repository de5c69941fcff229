// Entry of the loader's worker threads (see sample-worker-pool.ts): loads the samples the main
// thread asks for with loadSample, straight into the batch's shared memory.
import { readFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { ImageError } from "./image-error";
import { loadSample, type SampleRecipe } from "./load-sample";

/** A sample to load into `target` (a view of a SharedArrayBuffer) at `offset`. */
interface Task {
  id: number;
  path: string;
  sampleIndex: number;
  epoch: number;
  target: Float32Array;
  offset: number;
}

const recipe = (workerData as { recipe: SampleRecipe }).recipe;

/**
 * The file's bytes, read synchronously: a worker has nothing else to do meanwhile, and one read
 * costs less than fs/promises' four thread-pool round trips. A file that cannot be read goes to
 * loadSample as its path, which reports the failure as it always does.
 */
function readSource(path: string): string | Uint8Array {
  try {
    return readFileSync(path);
  } catch {
    return path;
  }
}

parentPort?.on("message", (task: Task) => {
  loadSample(
    task.target,
    task.offset,
    readSource(task.path),
    task.path,
    recipe,
    task.sampleIndex,
    task.epoch,
  ).then(
    () => parentPort?.postMessage({ id: task.id }),
    (error: unknown) => {
      const imageError = ImageError.isInstance(error);
      parentPort?.postMessage({
        id: task.id,
        error: {
          message: imageError ? error.reason : String((error as Error)?.message ?? error),
          file: imageError ? error.file : undefined,
        },
      });
    },
  );
});
