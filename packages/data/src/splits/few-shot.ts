import { join } from "node:path";
import { writeAnnotationFile } from "../annotations/read-annotation-file";
import { createRandom, hashSeed, type Random } from "../random";
import type { Sample, TaskDefinition } from "../types";

/** Draws `count` items at random (a partial Fisher–Yates shuffle of a copy). */
function drawWithoutReplacement<T>(items: readonly T[], count: number, random: Random): T[] {
  const pool = [...items];
  const take = Math.min(count, pool.length);
  for (let i = 0; i < take; i += 1) {
    const j = i + random.int(pool.length - i);
    const swap = pool[i];
    pool[i] = pool[j];
    pool[j] = swap;
  }
  return pool.slice(0, take);
}

/** Options of {@link sampleFewShot}. */
export interface FewShotOptions {
  /** K: units (images, patients or studies) drawn for each class. */
  shots: number;
  /** Base seed; experiment `e` draws with a generator seeded by `(seed, e)`. Default 0. */
  seed?: number | string;
  /** Number of experiments (MedFM: 5). Default 5. */
  experiments?: number;
  /**
   * What one shot is. Default: a group (patient, study) when every sample has `group` (colon, endo
   * read with their task), else one image (chest). `false` forces images; a function derives the group.
   */
  group?: boolean | ((sample: Sample) => string);
  /** Class names for messages (default: indices). */
  classes?: readonly string[];
  /**
   * Which images of a drawn group go to train: `positive` (default, the MedFM protocol: the
   * group's images positive for the class it was drawn for) or `all` its images. Images of a
   * drawn group that are not taken are left out of val too, so no group spans train and val.
   */
  take?: "positive" | "all";
  /**
   * What the validation set holds: `disjoint-groups` (default): the images of groups never drawn,
   * so no patient or study spans train and val; `rest`: every pool image not in train (no shared
   * name, but groups may span both, as in the official files).
   */
  val?: "disjoint-groups" | "rest";
}

/** A class that had fewer than K units left to draw. */
export interface FewShotShortfall {
  /** Class name (or index as text). */
  className: string;
  /** K. */
  wanted: number;
  /** Units drawn for it. */
  got: number;
}

/** One experiment: the shot set, its validation set (the rest of the pool) and what fell short. */
export interface FewShotExperiment {
  /** 1-based experiment number, as in `exp1`. */
  experiment: number;
  /** The K-shot training samples (no repeated names). */
  train: Sample[];
  /** Every other pool sample, with no name and no group shared with `train`, no repeated names. */
  val: Sample[];
  /** Images of drawn groups not taken into train, kept out of val (`val: "disjoint-groups"`). */
  excluded: Sample[];
  /** Units drawn (images, patients or studies). */
  units: number;
  /** Classes with fewer than K positive units in the whole pool. */
  shortfalls: FewShotShortfall[];
  /** Pool lines left out because their name was already taken (the pool's own duplicates). */
  droppedDuplicates: number;
}

interface Unit {
  key: string;
  samples: Sample[];
  positive: Uint8Array;
}

/**
 * Draws MedFM-protocol K-shot sets from a labelled pool (e.g. `trainval.txt`): for each class,
 * rarest first, K units positive for it, preferring units not drawn yet (K images for chest, K patients
 * for colon, K studies for endo); a drawn group brings its images positive for that class, as
 * the official files do. Unlike the official files, the shot set never overlaps its validation
 * set (by default neither by name nor by group) and no line repeats. Deterministic per seed.
 */
export function sampleFewShot(
  pool: readonly Sample[],
  options: FewShotOptions,
): FewShotExperiment[] {
  const { shots } = options;
  const experiments = options.experiments ?? 5;
  if (!Number.isInteger(shots) || shots < 1)
    throw new RangeError(`sampleFewShot: shots must be a positive integer, got ${shots}`);
  if (!Number.isInteger(experiments) || experiments < 1) {
    throw new RangeError(
      `sampleFewShot: experiments must be a positive integer, got ${experiments}`,
    );
  }
  if (pool.length === 0) throw new RangeError("sampleFewShot: the pool is empty");
  const classCount = pool[0].labels.length;
  if (classCount === 0)
    throw new RangeError("sampleFewShot: the pool has no labels (a name-only list)");
  const classes =
    options.classes ?? Array.from({ length: classCount }, (_, index) => String(index));
  const group = options.group ?? pool.every((sample) => sample.group !== undefined);
  const keyOf = (sample: Sample): string => {
    if (typeof group === "function") return `g:${group(sample)}`;
    if (group === true) {
      if (sample.group === undefined)
        throw new RangeError(`sampleFewShot: ${JSON.stringify(sample.name)} has no group`);
      return `g:${sample.group}`;
    }
    return `n:${sample.name}`;
  };
  let droppedDuplicates = 0;
  const seenNames = new Set<string>();
  const units: Unit[] = [];
  const unitByKey = new Map<string, Unit>();
  for (const sample of pool) {
    if (sample.labels.length !== classCount) {
      throw new RangeError(
        `sampleFewShot: ${JSON.stringify(sample.name)} has ${sample.labels.length} labels, expected ${classCount}`,
      );
    }
    if (seenNames.has(sample.name)) {
      droppedDuplicates += 1;
      continue;
    }
    seenNames.add(sample.name);
    const key = keyOf(sample);
    let unit = unitByKey.get(key);
    if (!unit) {
      unit = { key, samples: [], positive: new Uint8Array(classCount) };
      unitByKey.set(key, unit);
      units.push(unit);
    }
    unit.samples.push(sample);
    for (let label = 0; label < classCount; label += 1)
      unit.positive[label] |= sample.labels[label];
  }
  const positiveUnits = Array.from({ length: classCount }, (_, label) =>
    units.filter((unit) => unit.positive[label]),
  );
  const classOrder = Array.from({ length: classCount }, (_, label) => label).sort(
    (a, b) => positiveUnits[a].length - positiveUnits[b].length || a - b,
  );
  return Array.from({ length: experiments }, (_, index) => {
    const random = createRandom(hashSeed(options.seed ?? 0, "few-shot", index + 1));
    // Classes each drawn unit was drawn for.
    const chosen = new Map<Unit, number[]>();
    const shortfalls: FewShotShortfall[] = [];
    for (const label of classOrder) {
      // Fresh units first; a unit already drawn for another class is reused only when too few
      // fresh ones are left (endo has 23 studies for 4 classes).
      const positive = positiveUnits[label];
      const fresh = drawWithoutReplacement(
        positive.filter((unit) => !chosen.has(unit)),
        shots,
        random,
      );
      const reused =
        fresh.length < shots
          ? drawWithoutReplacement(
              positive.filter((unit) => chosen.has(unit)),
              shots - fresh.length,
              random,
            )
          : [];
      const picked = [...fresh, ...reused];
      for (const unit of picked) {
        const labels = chosen.get(unit);
        if (labels) labels.push(label);
        else chosen.set(unit, [label]);
      }
      if (picked.length < shots)
        shortfalls.push({ className: classes[label], wanted: shots, got: picked.length });
    }
    const train: Sample[] = [];
    const val: Sample[] = [];
    const excluded: Sample[] = [];
    for (const unit of units) {
      const labels = chosen.get(unit);
      for (const sample of unit.samples) {
        const taken =
          labels !== undefined &&
          (options.take === "all" || labels.some((label) => sample.labels[label] === 1));
        if (taken) train.push(sample);
        else if (labels === undefined || options.val === "rest") val.push(sample);
        else excluded.push(sample);
      }
    }
    // Keep pool order in every list so files diff cleanly against the pool.
    const order = new Map(pool.map((sample, position) => [sample, position]));
    const byPool = (a: Sample, b: Sample) => order.get(a)! - order.get(b)!;
    return {
      experiment: index + 1,
      train: train.sort(byPool),
      val: val.sort(byPool),
      excluded: excluded.sort(byPool),
      units: chosen.size,
      shortfalls,
      droppedDuplicates,
    };
  });
}

/** The official MedFMC file name: `chest_5-shot_train_exp1.txt`. */
export function fewShotFileName(
  taskName: string,
  shots: number,
  part: "train" | "val",
  experiment: number,
): string {
  return `${taskName}_${shots}-shot_${part}_exp${experiment}.txt`;
}

/** Writes each experiment's train and val lists as MedFMC text files in `folder`; returns the paths. */
export async function writeFewShotFiles(
  folder: string,
  task: TaskDefinition,
  shots: number,
  experiments: readonly FewShotExperiment[],
): Promise<string[]> {
  const paths: string[] = [];
  for (const experiment of experiments) {
    for (const part of ["train", "val"] as const) {
      const path = join(folder, fewShotFileName(task.name, shots, part, experiment.experiment));
      await writeAnnotationFile(path, experiment[part], { task, format: "medfmc" });
      paths.push(path);
    }
  }
  return paths;
}
