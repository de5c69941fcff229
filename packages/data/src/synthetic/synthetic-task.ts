import type { Random } from "../random";
import type { Canvas } from "./canvas";

/** One class of a synthetic task: its name, how often it occurs and what shows it. */
export interface SyntheticClass {
  /** Class name, in the task's label order. */
  name: string;
  /** Probability that a sample has the label (independent per class); 0: never. */
  prevalence: number;
  /** What the label looks like in the image, in words; absent when it draws nothing. */
  structure?: string;
}

/** How a synthetic task samples labels, draws images and writes annotation lines. */
export interface SyntheticTaskSpec {
  /** Task name (`"chest"`, ...). */
  name: string;
  /** Classes in label order. */
  classes: readonly SyntheticClass[];
  /** Channels of the images written: 1 (grayscale PNG) or 3 (RGB PNG). */
  channels: 1 | 3;
  /**
   * Images per group (patient or study); labels are drawn once per group when
   * `labelsPerGroup` is set. 1 for tasks without groups.
   */
  imagesPerGroup: number;
  /** Whether all images of a group share its labels (colon: a patient is tumour or not). */
  labelsPerGroup: boolean;
  /** File name of image `index` (0-based, in `group`) of `split`, in the task's naming style. */
  fileName(split: string, index: number, group: number, seed: number | string): string;
  /** Draws labels for one sample (or group). */
  sampleLabels(random: Random): Uint8Array;
  /** Draws the image of a sample with `labels` on a square canvas of `size` pixels. */
  draw(labels: Uint8Array, size: number, random: Random): Canvas;
  /** Writes one MedFMC annotation line (without the newline). */
  formatLine(name: string, labels: Uint8Array): string;
}
