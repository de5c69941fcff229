import type { Sample } from "../types";

/** One part of a split (a fold, train or val) for {@link splitReport}. */
export interface SplitPart {
  /** Label in the report. */
  name: string;
  /** The part's samples. */
  samples: readonly Sample[];
}

/** Where the largest deviation is and how large. */
export interface SplitDeviation {
  /** The deviation. */
  value: number;
  /** The part it occurs in. */
  part: string;
  /** The class it occurs for. */
  className: string;
}

/** How evenly a split spreads each class: positives per class per part and deviations. */
export interface SplitReport {
  /** Class names (or indices as text when not given). */
  classes: string[];
  /** All parts together. */
  overall: { size: number; positives: number[] };
  /** Each part: size, positives per class and positive share per class. */
  parts: Array<{ name: string; size: number; positives: number[]; shares: number[] }>;
  /** Largest |share of positives in a part − share overall| (proportion of the part's samples). */
  maxDeviation: SplitDeviation;
  /** Largest |positives in a part − positives expected from the part's size|, in samples. */
  maxCountDeviation: SplitDeviation;
  /** Label distribution (LD, Sechidis et al. 2011): mean gap in positive/negative ratio. Lower is better. */
  labelDistribution: number;
  /** Examples distribution (ED): mean |part size − desired size|. */
  examplesDistribution: number;
  /** (part, class) pairs without a positive although the class has at least one per part overall. */
  emptyCells: number;
}

/**
 * Reports how a split spreads the classes: positives per class per part, the largest deviation
 * from the overall share, and Sechidis et al.'s LD and ED measures. `proportions` are the desired
 * part sizes (default: equal), used for ED.
 */
export function splitReport(
  parts: readonly SplitPart[],
  options: { classes?: readonly string[]; proportions?: readonly number[] } = {},
): SplitReport {
  const first = parts.find((part) => part.samples.length > 0)?.samples[0];
  const classCount = options.classes?.length ?? first?.labels.length ?? 0;
  const classes = options.classes
    ? [...options.classes]
    : Array.from({ length: classCount }, (_, i) => String(i));
  const summaries = parts.map((part) => {
    const positives = new Array<number>(classCount).fill(0);
    for (const sample of part.samples) {
      if (sample.labels.length !== classCount) {
        throw new RangeError(
          `splitReport: ${part.name} sample ${JSON.stringify(sample.name)} has ${sample.labels.length} labels, expected ${classCount}`,
        );
      }
      for (let i = 0; i < classCount; i += 1) positives[i] += sample.labels[i];
    }
    const size = part.samples.length;
    return {
      name: part.name,
      size,
      positives,
      shares: positives.map((count) => (size > 0 ? count / size : 0)),
    };
  });
  const size = summaries.reduce((sum, part) => sum + part.size, 0);
  const positives = new Array<number>(classCount).fill(0);
  for (const part of summaries)
    for (let i = 0; i < classCount; i += 1) positives[i] += part.positives[i];
  const maxDeviation: SplitDeviation = { value: 0, part: "", className: "" };
  const maxCountDeviation: SplitDeviation = { value: 0, part: "", className: "" };
  let ldSum = 0;
  let emptyCells = 0;
  const ratio = (positive: number, count: number) => positive / Math.max(count - positive, 1);
  for (let i = 0; i < classCount; i += 1) {
    const overallShare = size > 0 ? positives[i] / size : 0;
    let classLd = 0;
    for (const part of summaries) {
      const deviation = Math.abs(part.shares[i] - overallShare);
      if (deviation > maxDeviation.value)
        Object.assign(maxDeviation, { value: deviation, part: part.name, className: classes[i] });
      const countDeviation = Math.abs(part.positives[i] - overallShare * part.size);
      if (countDeviation > maxCountDeviation.value) {
        Object.assign(maxCountDeviation, {
          value: countDeviation,
          part: part.name,
          className: classes[i],
        });
      }
      classLd += Math.abs(ratio(part.positives[i], part.size) - ratio(positives[i], size));
      if (part.positives[i] === 0 && positives[i] >= summaries.length) emptyCells += 1;
    }
    ldSum += summaries.length > 0 ? classLd / summaries.length : 0;
  }
  const proportions = options.proportions ?? summaries.map(() => 1 / Math.max(summaries.length, 1));
  const examplesDistribution =
    summaries.reduce(
      (sum, part, index) => sum + Math.abs(part.size - proportions[index] * size),
      0,
    ) / Math.max(summaries.length, 1);
  return {
    classes,
    overall: { size, positives },
    parts: summaries,
    maxDeviation,
    maxCountDeviation,
    labelDistribution: classCount > 0 ? ldSum / classCount : 0,
    examplesDistribution,
    emptyCells,
  };
}
