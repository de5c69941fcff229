/** Why a class's value is degenerate or missing. */
export type ClassFlagKind = "no-positives" | "no-negatives" | "no-samples";

/** A note about one class whose value is degenerate (AP) or undefined (AUC). */
export interface ClassFlag {
  /** 0-based class (column) index. */
  readonly classIndex: number;
  /** What is wrong with the class's targets. */
  readonly kind: ClassFlagKind;
  /** Whether the class's value was left out of the mean. */
  readonly excludedFromMean: boolean;
  /** One sentence for a report, like `class 3 has no positive target; AP is 0 and stays in the mean`. */
  readonly note: string;
}

/** A macro-averaged metric with its per-class values and the classes it flags. */
export interface ClassAveragedResult {
  /** The mean over the classes not excluded, as a fraction (0 to 1); NaN when all are excluded. */
  readonly value: number;
  /** The value of each class, in column order; NaN where undefined. */
  readonly perClass: number[];
  /** Classes with degenerate targets, in column order; empty when none. */
  readonly flags: ClassFlag[];
}

/** Averages `perClass` over the classes not in `excluded`. */
export function meanExcluding(perClass: readonly number[], excluded: ReadonlySet<number>): number {
  let sum = 0;
  let count = 0;
  for (let index = 0; index < perClass.length; index++) {
    if (excluded.has(index)) continue;
    sum += perClass[index];
    count++;
  }
  return count === 0 ? Number.NaN : sum / count;
}
