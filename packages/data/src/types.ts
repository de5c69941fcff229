/**
 * One annotated image: what a line of an annotation file means.
 * `labels` is multi-hot for multi-label tasks (one 0/1 entry per class) and one-hot for
 * multi-class tasks, in the task's class order.
 */
export interface Sample {
  /** Image path relative to the data root, exactly as written in the annotation file. */
  name: string;
  /** Multi-hot (multi-label) or one-hot (multi-class) labels, one entry per class. */
  labels: Uint8Array;
  /** Group key (patient or study) used by grouped splits and leakage checks. */
  group?: string;
  /** Extra columns kept from the source (CSV metadata columns, for example). */
  metadata?: Record<string, string>;
  /** 1-based line in the source file, for error messages. */
  line?: number;
}

/** A batch of images ready for a model: NHWC, normalized, with labels as float rows. */
export interface Batch {
  /** Pixels in NHWC order, normalized (mean/std on the 0–255 scale). */
  images: Float32Array;
  /** `[batch, height, width, channels]`. */
  shape: [number, number, number, number];
  /** `batch × classes` labels as 0/1 floats. */
  labels: Float32Array;
  /** Sample names, in batch order. */
  names: string[];
}

/** Whether a task has independent sigmoid outputs or one softmax over its classes. */
export type TaskKind = "multi-label" | "multi-class";

/** What a classification task is: its classes, head type, metrics and group key. */
export interface TaskDefinition {
  /** Short name, e.g. `"chest"`. */
  name: string;
  /** Class names in the order of the label columns. */
  classes: readonly string[];
  /** Head type the task needs. */
  kind: TaskKind;
  /** Metric names reported each epoch, main metric first (e.g. `["mAP", "AUC"]`). */
  metrics: readonly string[];
  /** Derives the group (patient or study) from a sample name, when the task has one. */
  groupKey?: (name: string) => string;
}
