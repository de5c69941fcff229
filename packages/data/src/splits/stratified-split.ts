import type { Sample } from "../types";
import { iterativeStratification } from "./iterative-stratification";

/** Options shared by {@link stratifiedKFold} and {@link trainValSplit}. */
export interface StratifiedSplitOptions {
  /** Seed: the same seed and samples give the same split. */
  seed: number | string;
  /**
   * Keep groups whole: `true` uses each sample's `group` (an error names samples without one),
   * a function derives the group from the sample (e.g. `(s) => task.groupKey!(s.name)` or a CSV
   * column kept in `metadata`). Without it, only repeated names are kept together.
   */
  group?: boolean | ((sample: Sample) => string);
}

/** One fold of a k-fold split: the fold itself is `val`, the rest `train`. */
export interface Fold {
  /** 0-based fold index. */
  index: number;
  /** Samples outside this fold. */
  train: Sample[];
  /** Samples in this fold. */
  val: Sample[];
}

/** The group each sample belongs to for splitting: its group, or its name (repeated names stay together). */
export function splitGroupsOf(
  samples: readonly Sample[],
  group: StratifiedSplitOptions["group"],
): string[] {
  return samples.map((sample, index) => {
    if (group === true) {
      if (sample.group === undefined) {
        throw new RangeError(
          `grouped split: sample ${index + 1} (${JSON.stringify(sample.name)}${sample.line ? `, line ${sample.line}` : ""}) has no group`,
        );
      }
      return `g:${sample.group}`;
    }
    if (typeof group === "function") return `g:${group(sample)}`;
    return `n:${sample.name}`;
  });
}

function checkLabels(samples: readonly Sample[]): void {
  if (samples.length === 0) throw new RangeError("split: no samples");
  const classCount = samples[0].labels.length;
  samples.forEach((sample, index) => {
    if (sample.labels.length !== classCount) {
      throw new RangeError(
        `split: sample ${index + 1} (${JSON.stringify(sample.name)}) has ${sample.labels.length} labels, the first has ${classCount}`,
      );
    }
  });
  if (classCount === 0)
    throw new RangeError("split: samples have no labels (a name-only list cannot be stratified)");
}

/**
 * Assigns each sample to a part by iterative stratification (multi-label and multi-class alike),
 * keeping groups whole. Returns the part index of every sample.
 */
export function assignParts(
  samples: readonly Sample[],
  proportions: readonly number[],
  options: StratifiedSplitOptions,
): Int32Array {
  checkLabels(samples);
  const groups = splitGroupsOf(samples, options.group);
  const groupCount = new Set(groups).size;
  if (groupCount < proportions.length) {
    throw new RangeError(
      `split: ${groupCount} ${options.group ? "groups" : "distinct samples"} cannot fill ${proportions.length} parts`,
    );
  }
  return iterativeStratification(
    samples.map((sample) => sample.labels),
    { proportions, seed: options.seed, groups },
  );
}

/**
 * Stratified k-fold split: each fold keeps every class's share of positives (iterative
 * stratification for multi-label, per-class for multi-class) and, with `group`, no group is
 * in two folds.
 */
export function stratifiedKFold(
  samples: readonly Sample[],
  options: StratifiedSplitOptions & { folds: number },
): Fold[] {
  const { folds } = options;
  if (!Number.isInteger(folds) || folds < 2) {
    throw new RangeError(`stratifiedKFold: folds must be an integer >= 2, got ${folds}`);
  }
  const parts = assignParts(
    samples,
    Array.from({ length: folds }, () => 1 / folds),
    options,
  );
  return Array.from({ length: folds }, (_, index) => ({
    index,
    train: samples.filter((_, row) => parts[row] !== index),
    val: samples.filter((_, row) => parts[row] === index),
  }));
}

/** Stratified (and optionally grouped) train/val split with `valFraction` of the samples in val. */
export function trainValSplit(
  samples: readonly Sample[],
  options: StratifiedSplitOptions & { valFraction: number },
): { train: Sample[]; val: Sample[] } {
  const { valFraction } = options;
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new RangeError(`trainValSplit: valFraction must be in (0, 1), got ${valFraction}`);
  }
  const parts = assignParts(samples, [1 - valFraction, valFraction], options);
  return {
    train: samples.filter((_, row) => parts[row] === 0),
    val: samples.filter((_, row) => parts[row] === 1),
  };
}
