import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  fewShotFileName,
  generateSyntheticDataset,
  readAnnotationFile,
  sampleFewShot,
  type TaskDefinition,
  writeAnnotationFile,
} from "@medfm/data";

/** Options of {@link prepareSyntheticDataset}. */
export interface PrepareSyntheticDatasetOptions {
  task: TaskDefinition;
  imageSize: number;
  seed: number;
  /** Folder holding the datasets (default `.medfm/datasets`, relative to the working folder). */
  root?: string;
}

/** Where a prepared synthetic dataset lies. */
export interface PreparedSyntheticDataset {
  /** The dataset's own folder: one per task, image size and seed. */
  folder: string;
  /** Folder the annotation names are relative to. */
  dataRoot: string;
  trainAnnotation: string;
  valAnnotation: string;
}

/** True when a rename failed because another process put the target there first. */
function lostTheRace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOTEMPTY" || code === "EEXIST";
}

/**
 * The synthetic dataset `medfm fewshot`, `medfm train` and grid workers use without
 * `--data-root`, safe for several processes in one working folder. Each (task, image size,
 * seed) has its own folder, so jobs with other settings never overwrite each other's images.
 * The dataset is generated in a private temporary folder and renamed into place in one step:
 * a reader sees either no folder or a complete one. When two processes generate it at once,
 * the first rename wins and the other discards its copy (the generator is deterministic, so
 * both copies are the same bytes).
 */
export async function prepareSyntheticDataset(
  options: PrepareSyntheticDatasetOptions,
): Promise<PreparedSyntheticDataset> {
  const root = options.root ?? join(".medfm", "datasets");
  const folder = join(
    root,
    `synthetic-${options.task.name}-${options.imageSize}px-seed${options.seed}`,
  );
  const prepared = {
    folder,
    dataRoot: join(folder, "images"),
    trainAnnotation: join(folder, "train.txt"),
    valAnnotation: join(folder, "val.txt"),
  };
  if (existsSync(folder)) return prepared;
  await mkdir(root, { recursive: true });
  const temporary = `${folder}.partial-${process.pid}-${randomUUID()}`;
  try {
    await generateSyntheticDataset({
      task: options.task.name as "chest" | "colon" | "endo",
      outputDir: temporary,
      imageSize: options.imageSize,
      seed: options.seed,
    });
    await rename(temporary, folder);
  } catch (error) {
    if (!lostTheRace(error)) throw error;
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
  return prepared;
}

/**
 * Writes MedFM-style few-shot files (`{task}_{K}-shot_{train|val}_exp{E}.txt`) drawn from a
 * prepared synthetic dataset's training list into its `fewshot/` folder, each written under a
 * temporary name and renamed, so a concurrent reader never sees half a file. Files already
 * there are kept: the draw is deterministic per seed and experiment. Returns the folder.
 */
export async function writeSyntheticFewShotFiles(
  dataset: PreparedSyntheticDataset,
  options: {
    task: TaskDefinition;
    shots: readonly number[];
    experiments: readonly number[];
    seed: number;
  },
): Promise<string> {
  const anns = join(dataset.folder, "fewshot");
  const pool = await readAnnotationFile(dataset.trainAnnotation, { task: options.task });
  for (const shot of options.shots) {
    const experiments = sampleFewShot(pool.samples, {
      shots: shot,
      seed: options.seed,
      experiments: Math.max(...options.experiments),
      classes: options.task.classes,
    });
    for (const experiment of experiments) {
      for (const part of ["train", "val"] as const) {
        const file = join(
          anns,
          fewShotFileName(options.task.name, shot, part, experiment.experiment),
        );
        if (existsSync(file)) continue;
        const temporary = `${file}.partial-${process.pid}-${randomUUID()}`;
        await writeAnnotationFile(temporary, experiment[part], {
          task: options.task,
          format: "medfmc",
        });
        await rename(temporary, file);
      }
    }
  }
  return anns;
}
