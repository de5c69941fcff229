import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  type ClassifierArtifacts,
  ClassifierFileError,
  type ClassifierIOHandler,
  joinWeightFiles,
  parseClassifierModelJson,
  weightPaths,
} from "./classifier-artifacts";

async function read(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ClassifierFileError(path, `cannot read (${(error as Error).message})`, {
      cause: error,
    });
  }
}

/**
 * Reads a saved classifier from disk (Node only; not in the browser entry): `path` is the
 * directory or its `model.json`; the weight files are read relative to it.
 */
export function fileSystemClassifier(path: string): ClassifierIOHandler {
  const modelJsonPath = path.endsWith(".json") ? path : join(path, "model.json");
  return {
    async load(): Promise<ClassifierArtifacts> {
      const modelJson = parseClassifierModelJson(
        modelJsonPath,
        (await read(modelJsonPath)).toString("utf8"),
      );
      const buffers: ArrayBuffer[] = [];
      for (const file of weightPaths(modelJson)) {
        const bytes = await read(join(dirname(modelJsonPath), file));
        buffers.push(new Uint8Array(bytes).buffer);
      }
      return { modelJson, weightData: joinWeightFiles(buffers), source: modelJsonPath };
    },
  };
}
