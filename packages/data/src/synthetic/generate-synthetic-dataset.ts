import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { assertPositiveInteger } from "../images/resize-options";
import { createRandom, hashSeed } from "../random";
import { canvasToBytes } from "./canvas";
import { chestSynthetic } from "./chest-synthetic";
import { colonSynthetic } from "./colon-synthetic";
import { endoSynthetic } from "./endo-synthetic";
import type { SyntheticClass, SyntheticTaskSpec } from "./synthetic-task";

/** Tasks the synthetic generator can draw. */
export type SyntheticTaskName = "chest" | "colon" | "endo";

/** Options of {@link generateSyntheticDataset}. */
export interface GenerateSyntheticDatasetOptions {
  /** Which task to imitate; default `"chest"`. */
  task?: SyntheticTaskName;
  /** Directory to write into (created if needed): `images/`, `train.txt`, `val.txt`. */
  outputDir: string;
  /** Training images; default 240. */
  trainCount?: number;
  /** Validation images; default 120. */
  valCount?: number;
  /** Width and height of every image in pixels; default 64. */
  imageSize?: number;
  /** Seed of labels and drawing; default 0. The same seed writes the same bytes. */
  seed?: number | string;
}

/** Where a generated dataset lies and what its labels mean. */
export interface SyntheticDataset {
  /** Task name. */
  task: SyntheticTaskName;
  /** Directory the annotation names are relative to (`outputDir/images`). */
  dataRoot: string;
  /** Training annotation file, in the task's official MedFMC text format. */
  trainAnnotation: string;
  /** Validation annotation file, same format. */
  valAnnotation: string;
  /** Classes in label order, with prevalence and the structure that shows each. */
  classes: readonly SyntheticClass[];
  /** Indices of the classes that can occur (prevalence above 0). */
  activeClasses: number[];
  /** Number of training and validation images. */
  counts: { train: number; val: number };
}

const specs: Record<SyntheticTaskName, SyntheticTaskSpec> = {
  chest: chestSynthetic,
  colon: colonSynthetic,
  endo: endoSynthetic,
};

/**
 * Writes a small dataset in the MedFMC layout whose labels are visible in the images, for demos
 * and tests where the real MedFMC images cannot be shipped. Labels are independent Bernoulli
 * draws per class; each image is drawn from its own generator derived from (seed, split, index),
 * so the output is identical for a given seed. Annotation files use the task's official MedFMC
 * text format with LF endings and a trailing newline. Chest: grayscale X-ray-like PNGs, lines
 * `name.png l1,...,l19`. Colon: RGB H&E-like patches, names with spaces, 4 per patient sharing
 * its label, lines `name.png L`. Endo: RGB endoscopy-like frames, 3 per study, lines
 * `name.png l1 l2 l3 l4`.
 */
export async function generateSyntheticDataset(
  options: GenerateSyntheticDatasetOptions,
): Promise<SyntheticDataset> {
  const task = options.task ?? "chest";
  const spec = specs[task];
  if (!spec) throw new RangeError(`generateSyntheticDataset: unknown task ${JSON.stringify(task)}`);
  const trainCount = options.trainCount ?? 240;
  const valCount = options.valCount ?? 120;
  const size = options.imageSize ?? 64;
  const seed = options.seed ?? 0;
  assertPositiveInteger(trainCount, "trainCount");
  assertPositiveInteger(valCount, "valCount");
  assertPositiveInteger(size, "imageSize");
  const dataRoot = join(options.outputDir, "images");
  await mkdir(dataRoot, { recursive: true });
  const writeSplit = async (split: "train" | "val", count: number): Promise<string> => {
    const lines: string[] = [];
    let groupLabels: Uint8Array | undefined;
    for (let i = 0; i < count; i += 1) {
      const group = Math.floor(i / spec.imagesPerGroup);
      const name = spec.fileName(split, i, group, seed);
      const random = createRandom(hashSeed(seed, task, split, i));
      let labels: Uint8Array;
      if (spec.labelsPerGroup) {
        if (i % spec.imagesPerGroup === 0) {
          groupLabels = spec.sampleLabels(
            createRandom(hashSeed(seed, task, split, "group", group)),
          );
        }
        labels = groupLabels!;
      } else {
        labels = spec.sampleLabels(random.fork("labels"));
      }
      const canvas = spec.draw(labels, size, random.fork("image"));
      await sharp(canvasToBytes(canvas), {
        raw: { width: size, height: size, channels: spec.channels },
      })
        .toColourspace(spec.channels === 1 ? "b-w" : "srgb")
        .png({ compressionLevel: 6 })
        .toFile(join(dataRoot, name));
      lines.push(spec.formatLine(name, labels));
    }
    const file = join(options.outputDir, `${split}.txt`);
    await writeFile(file, `${lines.join("\n")}\n`);
    return file;
  };
  const trainAnnotation = await writeSplit("train", trainCount);
  const valAnnotation = await writeSplit("val", valCount);
  return {
    task,
    dataRoot,
    trainAnnotation,
    valAnnotation,
    classes: spec.classes,
    activeClasses: spec.classes.flatMap((entry, i) => (entry.prevalence > 0 ? [i] : [])),
    counts: { train: trainCount, val: valCount },
  };
}
