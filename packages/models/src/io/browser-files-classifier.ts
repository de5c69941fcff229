import {
  type ClassifierArtifacts,
  ClassifierFileError,
  type ClassifierIOHandler,
  joinWeightFiles,
  parseClassifierModelJson,
  weightPaths,
} from "./classifier-artifacts";

/** The part of a DOM `File` read here (Node's `File` fits too). */
export interface ClassifierFile {
  /** File name, e.g. `model.json` or `weights.bin`. */
  readonly name: string;
  /** The file's text. */
  text(): Promise<string>;
  /** The file's bytes. */
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * Reads a saved classifier from `File` objects (a file input's or a drop's list, as tfjs's
 * `tf.io.browserFiles`): one `model.json` and the weight files its manifest names, matched by
 * file name. A missing file is an error naming it.
 */
export function browserFilesClassifier(files: Iterable<ClassifierFile>): ClassifierIOHandler {
  const list = [...files];
  return {
    async load(): Promise<ClassifierArtifacts> {
      const modelFile = list.find((file) => file.name.endsWith(".json"));
      if (!modelFile) {
        throw new ClassifierFileError(
          list.map((file) => file.name).join(", ") || "<no files>",
          "no model.json among the files",
        );
      }
      const modelJson = parseClassifierModelJson(modelFile.name, await modelFile.text());
      const buffers = await Promise.all(
        weightPaths(modelJson).map(async (path) => {
          const name = path.split("/").at(-1) as string;
          const file = list.find((candidate) => candidate.name === name);
          if (!file) {
            throw new ClassifierFileError(
              modelFile.name,
              `its manifest needs ${name}, which is not among the files (${list.map((candidate) => candidate.name).join(", ")})`,
            );
          }
          return file.arrayBuffer();
        }),
      );
      return { modelJson, weightData: joinWeightFiles(buffers), source: modelFile.name };
    },
  };
}
