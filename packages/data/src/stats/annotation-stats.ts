import type { Sample, TaskDefinition } from "../types";

/** Label statistics of one annotation list. */
export interface AnnotationStats {
  /** Task name, when given. */
  task?: string;
  /** Number of samples (lines), repeated names included. */
  count: number;
  /** Distinct names. */
  distinct: number;
  /** Lines that repeat a name seen earlier. */
  duplicates: number;
  /** Class names (indices as text when no task or classes were given). */
  classes: string[];
  /** Positives per class in class order (multi-class: samples of each class). */
  positives: number[];
  /** Label cardinality: `histogram[n]` samples carry n positive labels; `mean` is LCard. */
  cardinality: { mean: number; histogram: number[] };
  /** `coOccurrence[i][j]`: samples positive for both class i and j (the diagonal is `positives`). */
  coOccurrence: number[][];
  /** Distinct groups (patients, studies), when samples carry groups. */
  groups?: number;
}

/** Options of {@link annotationStats}. */
export interface AnnotationStatsOptions {
  /** Task: gives class names and the group key. */
  task?: TaskDefinition;
  /** Class names, when no task is given. */
  classes?: readonly string[];
}

/**
 * Computes per-class counts, the label cardinality histogram and the co-occurrence matrix of a
 * list of labelled samples. Throws when a sample's label count differs from the class count.
 */
export function annotationStats(
  samples: readonly Sample[],
  options: AnnotationStatsOptions = {},
): AnnotationStats {
  const classNames = options.task?.classes ?? options.classes;
  const classCount = classNames?.length ?? samples[0]?.labels.length ?? 0;
  const classes = classNames
    ? [...classNames]
    : Array.from({ length: classCount }, (_, index) => String(index));
  const positives = new Array<number>(classCount).fill(0);
  const coOccurrence = Array.from({ length: classCount }, () =>
    new Array<number>(classCount).fill(0),
  );
  const histogram = new Array<number>(classCount + 1).fill(0);
  const names = new Set<string>();
  const groups = new Set<string>();
  let grouped = samples.length > 0;
  let labelSum = 0;
  samples.forEach((sample, index) => {
    if (sample.labels.length !== classCount) {
      throw new RangeError(
        `annotationStats: sample ${index + 1} (${JSON.stringify(sample.name)}${sample.line ? `, line ${sample.line}` : ""}) has ${sample.labels.length} labels, expected ${classCount}`,
      );
    }
    names.add(sample.name);
    const group = sample.group ?? options.task?.groupKey?.(sample.name);
    if (group === undefined) grouped = false;
    else groups.add(group);
    const on: number[] = [];
    for (let label = 0; label < classCount; label += 1) if (sample.labels[label]) on.push(label);
    histogram[on.length] += 1;
    labelSum += on.length;
    for (const a of on) {
      positives[a] += 1;
      for (const b of on) coOccurrence[a][b] += 1;
    }
  });
  while (histogram.length > 1 && histogram[histogram.length - 1] === 0) histogram.pop();
  const stats: AnnotationStats = {
    count: samples.length,
    distinct: names.size,
    duplicates: samples.length - names.size,
    classes,
    positives,
    cardinality: { mean: samples.length > 0 ? labelSum / samples.length : 0, histogram },
    coOccurrence,
  };
  if (options.task) stats.task = options.task.name;
  if (grouped) stats.groups = groups.size;
  return stats;
}

/** One list in a {@link SplitComparison}. */
export interface SplitComparisonRow {
  /** The list's name (e.g. `train`). */
  name: string;
  /** Samples in it. */
  count: number;
  /** Positives per class. */
  positives: number[];
  /** Positives per class as a share of the list's samples. */
  shares: number[];
  /** Mean positive labels per sample. */
  cardinality: number;
}

/** Class shares side by side across lists (train/val/test), and the widest gap. */
export interface SplitComparison {
  /** Class names. */
  classes: string[];
  /** One row per list. */
  rows: SplitComparisonRow[];
  /** Largest difference in a class's share between two lists. */
  maxShareGap: { value: number; className: string; between: [string, string] };
  /** Classes with no positive at all in some list, as `list: class`. */
  missing: string[];
}

/** Compares the class make-up of several lists (e.g. train, val, test) side by side. */
export function compareSplits(
  lists: ReadonlyArray<{ name: string; samples: readonly Sample[] }>,
  options: AnnotationStatsOptions = {},
): SplitComparison {
  const stats = lists.map((list) => ({
    name: list.name,
    stats: annotationStats(list.samples, options),
  }));
  const classes = stats[0]?.stats.classes ?? [];
  const rows = stats.map(({ name, stats: item }) => ({
    name,
    count: item.count,
    positives: item.positives,
    shares: item.positives.map((value) => (item.count > 0 ? value / item.count : 0)),
    cardinality: item.cardinality.mean,
  }));
  const maxShareGap: SplitComparison["maxShareGap"] = {
    value: 0,
    className: "",
    between: ["", ""],
  };
  const missing: string[] = [];
  classes.forEach((className, label) => {
    for (const row of rows)
      if (row.positives[label] === 0) missing.push(`${row.name}: ${className}`);
    for (let a = 0; a < rows.length; a += 1) {
      for (let b = a + 1; b < rows.length; b += 1) {
        const gap = Math.abs(rows[a].shares[label] - rows[b].shares[label]);
        if (gap > maxShareGap.value) {
          Object.assign(maxShareGap, {
            value: gap,
            className,
            between: [rows[a].name, rows[b].name],
          });
        }
      }
    }
  });
  return { classes, rows, maxShareGap, missing };
}
