// Entry of the loader's worker threads (see sample-worker-pool.ts): loads the samples the main
// thread asks for with loadSample, straight into the batch's shared memory.
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

parentPort?.on("message", (task: Task) => {
  loadSample(
    task.target,
    task.offset,
    task.path,
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
