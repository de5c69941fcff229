// Entry of the loader's worker threads (see sample-worker-pool.ts): loads the samples the main
// thread asks for with loadSample and sends the floats back, transferring their buffer.
import { parentPort, workerData } from "node:worker_threads";
import { ImageError } from "./image-error";
import { loadSample, type SampleRecipe } from "./load-sample";

/** A sample to load, as the pool sends it. */
interface Task {
  id: number;
  path: string;
  sampleIndex: number;
  epoch: number;
}

const recipe = (workerData as { recipe: SampleRecipe }).recipe;
const floats = recipe.cropResize.width * recipe.cropResize.height * recipe.channels;

parentPort?.on("message", (task: Task) => {
  const pixels = new Float32Array(floats);
  loadSample(pixels, 0, task.path, task.path, recipe, task.sampleIndex, task.epoch).then(
    () => parentPort?.postMessage({ id: task.id, pixels }, [pixels.buffer]),
    (error: unknown) => {
      const imageError = ImageError.isInstance(error);
      parentPort?.postMessage({
        id: task.id,
        error: {
          message: imageError
            ? error.message.slice(error.file.length + 2)
            : String((error as Error)?.message ?? error),
          file: imageError ? error.file : undefined,
        },
      });
    },
  );
});
