import type { Batch, TaskDefinition } from "@medfm/data";
import { accuracy, meanAveragePrecision, meanRocAuc } from "@medfm/metrics";
import * as tf from "@tensorflow/tfjs";

/** The task's metrics on one evaluation set, with the chance level of the main metric. */
export interface TaskEvaluation {
  /** Metric values as fractions in [0, 1], by name (`mAP`, `AUC`, `accuracy`). */
  metrics: Record<string, number>;
  /** Name of the task's main metric (its first). */
  mainMetric: string;
  /** What the main metric scores for a model that ranks at random on this set. */
  chance: number;
  /** Per-class values for per-class metrics (`AP`, `AUC`), in class order; NaN where undefined. */
  perClass: Record<string, number[]>;
  /** Notes on classes left out or scored 0 (no positives, single-valued targets). */
  notes: string[];
  /** Number of samples evaluated. */
  count: number;
  /** The scores (logits) and targets behind the metrics, row by row, for reports and curves. */
  predictions: { names: string[]; scores: Float32Array[]; targets: Float32Array[] };
}

function softmaxRows(rows: readonly Float32Array[]): Float64Array[] {
  return rows.map((row) => {
    const max = Math.max(...row);
    const exps = Float64Array.from(row, (value) => Math.exp(value - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return exps.map((value) => value / sum);
  });
}

/**
 * Evaluates scores (logits, `rows × classes`) against targets with the task's metrics:
 * mAP and macro AUC for multi-label tasks, accuracy and AUC for multi-class ones (binary AUC on
 * the positive class's softmax probability). Metrics depend only on score order, so logits are
 * fine for AP and AUC.
 */
export function evaluateTask(
  task: TaskDefinition,
  scores: readonly Float32Array[],
  targets: readonly Float32Array[],
  names: readonly string[] = [],
): TaskEvaluation {
  const predictions = { names: [...names], scores: [...scores], targets: [...targets] };
  const classes = task.classes.length;
  const count = scores.length;
  const positives = new Array<number>(classes).fill(0);
  for (const row of targets)
    for (let c = 0; c < classes; c += 1) positives[c] += row[c] > 0 ? 1 : 0;
  if (task.kind === "multi-label") {
    const ap = meanAveragePrecision(scores, targets);
    const auc = meanRocAuc(scores, targets);
    // A random ranking's expected AP for a class is its prevalence; classes without positives
    // score 0 either way (mmpretrain's convention, kept in the mean).
    const chance = positives.reduce((sum, p) => sum + p / count, 0) / classes;
    return {
      metrics: { mAP: ap.value, AUC: auc.value },
      mainMetric: "mAP",
      chance,
      perClass: { AP: Array.from(ap.perClass), AUC: Array.from(auc.perClass) },
      notes: [...ap.flags, ...auc.flags].map(
        (flag) => `${task.classes[flag.classIndex]}: ${flag.note}`,
      ),
      count,
      predictions,
    };
  }
  const probabilities = softmaxRows(scores);
  const metrics: Record<string, number> = { accuracy: accuracy(scores, targets, { topK: 1 }) };
  const perClass: Record<string, number[]> = {};
  const notes: string[] = [];
  const auc = meanRocAuc(probabilities, targets);
  if (classes === 2) {
    // Binary: rank by the positive class's probability (the MedFM colon convention).
    metrics.AUC = auc.perClass[1];
  } else {
    metrics.AUC = auc.value;
  }
  perClass.AUC = Array.from(auc.perClass);
  notes.push(...auc.flags.map((flag) => `${task.classes[flag.classIndex]}: ${flag.note}`));
  return {
    metrics,
    mainMetric: "accuracy",
    chance: Math.max(...positives) / Math.max(count, 1),
    perClass,
    notes,
    count,
    predictions,
  };
}

/**
 * Scores every batch of one pass over `source` with `score` (images to `[batch, classes]`
 * logits or scores, eval mode), then computes the task's metrics with {@link evaluateTask}.
 * `epoch` picks which pass of the source to read (default 0).
 */
export async function evaluateModel(
  task: TaskDefinition,
  source: { epoch(index: number): AsyncIterable<Batch> },
  score: (images: tf.Tensor4D) => tf.Tensor2D,
  epoch = 0,
): Promise<TaskEvaluation> {
  const scoreRows: Float32Array[] = [];
  const targetRows: Float32Array[] = [];
  const names: string[] = [];
  for await (const batch of source.epoch(epoch)) {
    const output = tf.tidy(() => score(tf.tensor4d(batch.images, batch.shape)));
    const values = (await output.data()) as Float32Array;
    const classes = output.shape[1];
    output.dispose();
    for (let row = 0; row < batch.names.length; row += 1) {
      scoreRows.push(values.slice(row * classes, (row + 1) * classes));
      targetRows.push(batch.labels.slice(row * classes, (row + 1) * classes));
    }
    names.push(...batch.names);
  }
  return evaluateTask(task, scoreRows, targetRows, names);
}
