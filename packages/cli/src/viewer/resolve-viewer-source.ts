import { existsSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { journalFileName, readRun, type StoredRun } from "@medfm/track";

/** A model to show, and the run it came from when known. */
export interface ViewerSource {
  /** The directory holding `model.json` and its weights. */
  modelDirectory: string;
  /** The training run (for the model card's data and metrics), if found. */
  run?: StoredRun;
}

/** The model directory inside a `medfm train --output` folder or a model folder, if any. */
function modelDirectoryIn(folder: string): string | undefined {
  if (folder.endsWith(".json")) return existsSync(folder) ? resolve(folder, "..") : undefined;
  return [folder, join(folder, "best"), join(folder, "last")].find((candidate) =>
    existsSync(join(candidate, "model.json")),
  );
}

/**
 * Finds what `medfm serve RUN_OR_MODEL` / `medfm export-web RUN` name: a model directory (or
 * its `model.json`), a `medfm train --output` folder (its `best/`, else `last/`), or a run
 * (folder, or id under `root`) whose `checkpoints` parameter points at the training output.
 * `run` adds a run to a model given directly. Errors say what was looked for.
 */
export function resolveViewerSource(
  source: string,
  options: { root?: string; run?: string } = {},
): ViewerSource {
  const root = options.root ?? process.env.MEDFM_TRACK_ROOT ?? join(".medfm", "runs");
  const asRunFolder = (name: string): string =>
    isAbsolute(name) || name.includes("/") || existsSync(name)
      ? resolve(name)
      : resolve(root, name);
  const readRunAt = (name: string): StoredRun | undefined => {
    const folder = asRunFolder(name);
    return existsSync(join(folder, journalFileName)) ? readRun(folder) : undefined;
  };
  const direct = existsSync(source) ? modelDirectoryIn(resolve(source)) : undefined;
  if (direct) {
    const run = options.run ? readRunAt(options.run) : undefined;
    if (options.run && !run) throw new Error(`--run ${options.run}: no run folder there`);
    return { modelDirectory: direct, ...(run ? { run } : {}) };
  }
  const run = readRunAt(source);
  if (!run) {
    throw new Error(
      `${source}: neither a model directory (model.json, or best/ or last/ of medfm train --output) nor a run folder or id under ${root}`,
    );
  }
  const checkpoints = run.params.checkpoints;
  const modelDirectory =
    typeof checkpoints === "string" ? modelDirectoryIn(resolve(checkpoints)) : undefined;
  if (!modelDirectory) {
    throw new Error(
      `run ${run.id} (${run.path}): ${typeof checkpoints === "string" ? `no model.json in ${checkpoints} (nor best/ or last/)` : "records no checkpoints parameter (trained before medfm serve existed?): pass the model directory, with --run for the card"}`,
    );
  }
  return { modelDirectory, run };
}
