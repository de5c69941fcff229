import type { Sample, TaskDefinition } from "../types";
import type { AnnotationIssue } from "./annotation-error";

/**
 * The annotation formats MedFM.js reads and writes.
 * - `medfmc-comma`: `name.png 0,1,...` (chest).
 * - `medfmc-space`: `name.png 0 1 0 0` (endo).
 * - `medfmc-index`: `name with spaces.png 1`, a class index, the last token (colon).
 * - `medfmc-names`: file names only (`test_WithoutLabel.txt`).
 * - `mmpretrain-json`: `{ metainfo: { classes }, data_list: [{ img_path, gt_label }] }`.
 * - `path-label`: `path label`, the label a class name or index (multi-label: comma-separated, `-` for none).
 * - `csv`: a header row with a name column and one 0/1 column per class (multi-class: or one
 *   `label` column); other columns are metadata.
 */
export type AnnotationFormat =
  | "medfmc-comma"
  | "medfmc-space"
  | "medfmc-index"
  | "medfmc-names"
  | "mmpretrain-json"
  | "path-label"
  | "csv";

/** Every {@link AnnotationFormat}, in documentation order. */
export const annotationFormats: readonly AnnotationFormat[] = Object.freeze([
  "medfmc-comma",
  "medfmc-space",
  "medfmc-index",
  "medfmc-names",
  "mmpretrain-json",
  "path-label",
  "csv",
]);

/** A format to read or write: a concrete one, `medfmc` (the task's MedFMC layout) or `auto`. */
export type AnnotationFormatOption = AnnotationFormat | "medfmc" | "auto";

/** A name that occurs on more than one line of one file. */
export interface DuplicateName {
  /** The repeated name. */
  name: string;
  /** Every line it occurs on (1-based). */
  lines: number[];
  /** Whether all its lines carry the same labels. */
  sameLabels: boolean;
}

/** The parsed content of one annotation file. */
export interface AnnotationSet {
  /** One sample per line, in file order (duplicates kept unless `duplicates: "drop"`). */
  samples: Sample[];
  /** The format that was read (detected or given). */
  format: AnnotationFormat;
  /** The file name used in messages (`<text>` for a string without one). */
  file: string;
  /** Class names, from the task or the file (JSON `metainfo.classes`, CSV header). */
  classes?: readonly string[];
  /** Number of label columns. 0 for a name-only list. */
  classCount: number;
  /** False for a name-only list: every sample then has empty `labels`. */
  labelled: boolean;
  /** Names that occur more than once (identical or conflicting). */
  duplicates: DuplicateName[];
  /** Accepted but noteworthy: BOM, CRLF or CR-only line ends, identical duplicate lines, dropped duplicates. */
  warnings: AnnotationIssue[];
}

/** Options of `parseAnnotations` and `readAnnotationFile`. */
export interface ParseAnnotationsOptions {
  /** The task: gives the class count and names, the head type and the group key. */
  task?: TaskDefinition;
  /** Format to read; `auto` (the default) detects it from the content and file name. */
  format?: AnnotationFormatOption;
  /** File name used in messages and for detection by extension. */
  file?: string;
  /** Make warnings (BOM, CRLF, identical duplicate lines) errors. */
  strict?: boolean;
  /**
   * Identical duplicate lines: `keep` them (default, reported in `duplicates` and `warnings`),
   * `drop` all but the first (each drop reported in `warnings`), or treat them as an `error`.
   * Duplicates with conflicting labels are always an error.
   */
  duplicates?: "keep" | "drop" | "error";
  /** CSV: the column with image names (default: `image`, `img_path`, `path`, `filename`, `name`, `Image Index`, else the first). */
  nameColumn?: string;
  /** CSV: the column with the group key, e.g. `patient_id` (default: `patient_id`, `Patient ID` or `study_id` when present). */
  groupColumn?: string;
}
